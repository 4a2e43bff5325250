/*
 * wire.h - where lab 06's processes write in the shared page: dev-zero
 * (the lab) at offset 0, its forked child or the exec'd peer at PEER_OFF.
 */
#ifndef LAB06_WIRE_H
#define LAB06_WIRE_H

#define PEER_OFF 64 /* where the child or the peer writes; the lab writes at 0 */

#endif
