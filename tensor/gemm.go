package tensor

import "fmt"

// Gemm computes C = alpha*op(A)*op(B) + beta*C on row-major matrices, where
// op(X) is X or Xᵀ. op(A) is m×k, op(B) is k×n, C is m×n; lda, ldb, ldc are
// the row strides of A, B and C as stored. beta == 0 ignores C's contents
// (NaN there does not propagate); alpha == 0 or k == 0 reads neither A nor B.
//
// Large products run on up to Workers goroutines; calls may run concurrently.
// GemmBackend names the kernel in use (see gemm_blocked.go for the scheme).
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	gemmImpl(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func checkGemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if m < 0 || n < 0 || k < 0 || lda < max(ac, 1) || ldb < max(bc, 1) || ldc < max(n, 1) ||
		(ar > 0 && len(a) < (ar-1)*lda+ac) || (br > 0 && len(b) < (br-1)*ldb+bc) || (m > 0 && len(c) < (m-1)*ldc+n) {
		panic(fmt.Sprintf("tensor: bad Gemm arguments m=%d n=%d k=%d lda=%d ldb=%d ldc=%d len(a,b,c)=%d,%d,%d",
			m, n, k, lda, ldb, ldc, len(a), len(b), len(c)))
	}
}

// gemmRef is the plain triple loop: the reference that tests compare against.
func gemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}
