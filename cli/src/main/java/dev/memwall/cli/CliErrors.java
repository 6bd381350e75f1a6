package dev.memwall.cli;

import java.io.FileNotFoundException;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;

/** One-line descriptions of failures, for users who did not ask for a stack trace. */
final class CliErrors {
    private CliErrors() {
    }

    static String describe(Throwable ex) {
        if (ex instanceof NoSuchFileException e) return e.getFile() + ": no such file";
        if (ex instanceof AccessDeniedException e) return e.getFile() + ": permission denied";
        if (ex instanceof FileNotFoundException e) return e.getMessage();
        String msg = ex.getMessage();
        if (msg == null || msg.isBlank()) msg = ex.getClass().getSimpleName();
        if (ex.getCause() != null && ex.getCause() != ex && ex.getCause().getMessage() != null
                && !msg.contains(ex.getCause().getMessage())) {
            msg += ": " + ex.getCause().getMessage();
        }
        return msg;
    }
}
