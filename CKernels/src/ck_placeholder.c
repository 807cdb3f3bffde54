// Placeholder translation unit until the kernels land; see include/ckernels.h for the API.
