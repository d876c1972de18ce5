// Package openblas binds OpenBLAS's cblas_sgemm for the tensor package's
// -tags openblas build. It needs cgo and libopenblas (Debian:
// libopenblas-dev); without the tag it is empty, so the default build stays
// free of cgo.
package openblas
