/**
 * The mkwrite implementation, found by {@link java.util.ServiceLoader} from {@code dev.mkwrite} (on the
 * class path, by name first), and the
 * built-in storage handlers in {@code dev.mkwrite.impl.storage}.
 */
module dev.mkwrite.impl {
    requires transitive dev.mkwrite; // the storage handlers implement its interfaces
    requires org.slf4j;
    requires org.agrona;
    requires org.jctools.core;
    requires jdk.jfr;

    exports dev.mkwrite.impl.storage;

    provides dev.mkwrite.MappedRegionProvider with dev.mkwrite.impl.MkwriteProvider;
}
