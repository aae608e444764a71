package dev.mkwrite;

import java.io.IOException;

/**
 * The service an mkwrite implementation provides. Applications do not call it; they use
 * {@link MappedRegion#builder}. An implementation declares it in its {@code module-info}
 * ({@code provides dev.mkwrite.MappedRegionProvider with ...}) and in
 * {@code META-INF/services/dev.mkwrite.MappedRegionProvider} for the class path.
 *
 * <p>When several providers are present, the system property {@value #PROVIDER_PROPERTY} names the class
 * to use; without it the first one found is used and a warning names the others.
 */
public interface MappedRegionProvider {

    /** System property naming the provider class to use when several are present. */
    String PROVIDER_PROPERTY = "dev.mkwrite.provider";

    /**
     * Opens a handle on the region of {@code spec}'s file: a new region, or the one already open over the
     * same file in this JVM, under the rules of {@link MappedRegion} (<i>Opening a file more than once</i>).
     *
     * @param spec what to open; the handler is not null
     * @return a handle on the open region
     * @throws IOException           if the file cannot be opened, extended or mapped
     * @throws IllegalStateException if the file is open in this JVM with other settings
     */
    MappedRegion open(RegionBuilder spec) throws IOException;
}
