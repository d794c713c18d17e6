/* files.h — atomic replacement of one file in a directory, shared by potd's keystore and pot. */
#ifndef POT_FILES_H
#define POT_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The temporary file of NAME is ".NAME" POT_FILE_TMP_INFIX and 12 hex digits. */
#define POT_FILE_TMP_INFIX	".tmp-"

/*
 * Writes name (no '/') in the directory open as dirfd (dir: its path, for messages only)
 * so that a reader or a crash sees the old file or the new one, never a part: a temporary
 * file beside it (O_EXCL, O_NOFOLLOW, 0600 while written), then mode, the data, fsync;
 * then rename over name (replace), or link to it, which fails with POT_ERR_DENIED when
 * name exists (a pepper is never overwritten); then fsync of the directory. A crash can
 * leave the temporary file behind, never a half-written name. POT_OK, or a pot_err code
 * with the path and the system's reason in err.
 */
int pot_file_write_atomic(int dirfd, const char *dir, const char *name, const void *data,
			  size_t len, mode_t mode, bool replace, char *err, size_t errlen);

#endif
