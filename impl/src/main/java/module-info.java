/**
 * The mkwrite implementation, found by {@link java.util.ServiceLoader} from {@code dev.mkwrite}.
 */
module dev.mkwrite.impl {
    requires dev.mkwrite;
    requires org.slf4j;
    requires org.agrona;
    requires jdk.jfr;

    provides dev.mkwrite.MappedRegionProvider with dev.mkwrite.impl.MkwriteProvider;
}
