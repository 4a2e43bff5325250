/*
 * wire.h - where lab 06's processes write in the shared page: dev-zero
 * (the lab) at offset 0, its forked child or the exec'd peer at byte B
 * (--offset=B of both programs, PEER_OFF unless told).
 */
#ifndef LAB06_WIRE_H
#define LAB06_WIRE_H

#define PEER_OFF 64 /* where the child or the peer writes by default; the lab writes at 0 */

#endif
