package dev.mkwrite.impl.storage;

import dev.mkwrite.StorageFile;
import dev.mkwrite.impl.os.SharedFile;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * A region's file that passes every call on to {@code file}, running {@link #before} first: a test
 * overrides that, or a call, to make the file fail or race as a real one would. Closing it closes
 * {@code file} if it is a {@link SharedFile} the test opened.
 */
class ForwardingFile implements StorageFile, AutoCloseable {

    final StorageFile file;

    ForwardingFile(StorageFile file) {
        this.file = file;
    }

    /** Runs before every call but {@link #path()}; {@code call} names it. Nothing, unless overridden. */
    void before(String call) throws IOException {
    }

    @Override
    public Path path() {
        return file.path();
    }

    @Override
    public long size() throws IOException {
        before("size");
        return file.size();
    }

    @Override
    public Outcome allocate(long offset, long length) throws IOException {
        before("allocate");
        return file.allocate(offset, length);
    }

    @Override
    public Outcome punchHole(long offset, long length) throws IOException {
        before("punchHole");
        return file.punchHole(offset, length);
    }

    @Override
    public int read(ByteBuffer dst, long position) throws IOException {
        before("read");
        return file.read(dst, position);
    }

    @Override
    public int write(ByteBuffer src, long position) throws IOException {
        before("write");
        return file.write(src, position);
    }

    @Override
    public void close() throws IOException {
        if (file instanceof SharedFile shared) {
            IOException failure = shared.close(null);
            if (failure != null) {
                throw failure;
            }
        }
    }
}
