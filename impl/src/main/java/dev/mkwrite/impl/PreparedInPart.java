package dev.mkwrite.impl;

import dev.mkwrite.Reservation;

/**
 * A reservation whose page's storage was prepared only in part: the page must fault again after its
 * writeback, even in a region whose handler says overwrites need no preparing
 * ({@link dev.mkwrite.WriteFaultHandler#preparesOverwrites}), where a written-back page is otherwise kept
 * PREPARED and entered again by one CAS, without the handler. The storage handlers return it for a page
 * whose folio unit the end of the file cut: after a grow, the rest of that unit is a hole the page's next
 * fault must allocate (see {@code dev.mkwrite.impl.storage.FolioUnit}).
 */
public interface PreparedInPart extends Reservation {
}
