/*
 * wire.h - the layout of lab 07's shm object, the same in its three programs:
 * shm-writer's text at offset 0, shm-reader's reply at REPLY_OFF.
 */
#ifndef LAB07_WIRE_H
#define LAB07_WIRE_H

#define REPLY_OFF 64 /* where shm-reader writes its reply */

#endif
