/*
 * clients.h - lab 01's steps [10] and [11]: the source notes' clients started
 * before any writer, and the modes the notes' programs create files with.
 *
 * Where a side needs another user (the owner's view of a mode-0001 file,
 * another user opening a 0666 file), a root run shows it in a child that
 * became uid 65534; an ordinary run shows what it can and says, inside a
 * {token}, what it could not, so the transcript is the same for both.
 */
#ifndef LAB01_CLIENTS_H
#define LAB01_CLIENTS_H

#include <stddef.h>

/* [10] Source note 1's client: without O_CREAT, then with its helper's
 * O_CREAT and ftruncate.  Two checks. */
void early_client_note1(size_t ps);
/* [10] Source note 4's reader: open(path, O_RDWR | O_CREAT, MAP_SHARED), as
 * an ordinary user.  Two checks. */
void early_reader_note4(size_t ps);
/* [10] Source note 3's map_normalfile2: open(path, O_CREAT | O_RDWR, 00777),
 * ten records mapped.  One check. */
void early_reader_note3(void);
/* [11] Source note 0's program A (0666) and source note 3's programs (00777)
 * under umask 022 and 0; another user opens each file read-write.  One check. */
void modes_left_to_umask(void);

#endif
