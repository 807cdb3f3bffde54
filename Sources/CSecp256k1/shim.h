// The system libsecp256k1 (libsecp256k1-dev) with its recovery module, for Ethereum signatures.
#ifndef PP_CSECP256K1_SHIM_H
#define PP_CSECP256K1_SHIM_H
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#endif
