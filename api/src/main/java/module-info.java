/**
 * The mkwrite contract: write through memory-mapped files with the kernel's {@code page_mkwrite}
 * protocol. See {@link dev.mkwrite} for the protocol and {@link dev.mkwrite.MappedRegion} to start.
 *
 * <p>This module has no dependencies. The implementation is found at run time with
 * {@link java.util.ServiceLoader}, as SLF4J finds its provider; on the class path, mkwrite's own
 * implementation is first looked up by name (see {@link dev.mkwrite.MappedRegionProvider}).
 */
module dev.mkwrite {
    exports dev.mkwrite;

    uses dev.mkwrite.MappedRegionProvider;
}
