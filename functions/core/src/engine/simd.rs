//! The few loops over a whole catalogue that run per request, in the widest registers the CPU
//! has (pulp's runtime dispatch: AVX2 on x86-64 where present, else SSE2; no `unsafe` here).
//! Every loop adds in a fixed order whatever the width, so results are the same everywhere.
//! (The softmax pass, [`super::stages::Softmax::over`], dispatches the same way.)

/// `acc[i] += w * row[i]`.
pub fn add_scaled(acc: &mut [f32], w: f32, row: &[f32]) {
    // A struct, not a closure: the loop must inline into pulp's feature-enabled frame.
    struct AddScaled<'a> {
        acc: &'a mut [f32],
        w: f32,
        row: &'a [f32],
    }
    impl pulp::WithSimd for AddScaled<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _: S) {
            for (a, b) in self.acc.iter_mut().zip(self.row) {
                *a += self.w * b;
            }
        }
    }
    pulp::Arch::new().dispatch(AddScaled { acc, w, row })
}
