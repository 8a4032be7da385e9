"""The numba kernels of the fused Adam update (imported only where numba is installed; see ``_adam``).

Module-level functions so that numba's on-disk cache finds them again in every new process.
"""
from numba import njit, types
from numba.extending import intrinsic


@intrinsic
def fma(typingctx, a, b, c):
    """a·b + c with one rounding, as the vfmadd instructions that torch's CPU kernels compile to."""
    def codegen(context, builder, signature, args):
        return builder.fma(*args)
    return types.float32(types.float32, types.float32, types.float32), codegen


# error_model="numpy": no Python zero-division checks, so the loops vectorise.
@njit(nogil=True, cache=True, error_model="numpy")
def moments(param, grad, exp_avg, exp_avg_sq, weight_decay, lerp_weight, beta2, one_minus_beta2, decay):
    """``g + wd·p`` (add with alpha), ``m.lerp_(g, 1 − β1)``, ``v.mul_(β2).addcmul_(g, g, 1 − β2)``."""
    for i in range(param.size):
        g = fma(weight_decay, param[i], grad[i]) if decay else grad[i]
        exp_avg[i] = fma(lerp_weight, g - exp_avg[i], exp_avg[i])
        exp_avg_sq[i] = fma(one_minus_beta2 * g, g, exp_avg_sq[i] * beta2)


# ``param`` is read and written at the same index: one array, so the loop vectorises (an ``out`` argument that
# may be ``param`` fails the vectoriser's overlap check and runs scalar).
@njit(nogil=True, cache=True, error_model="numpy")
def update_in_place(param, exp_avg, root, bias_correction2_sqrt, eps, step_size):
    """``p.addcdiv_(m, √v / √(1 − β2ᵗ) + eps, step_size)`` from torch's square roots ``root``."""
    for i in range(param.size):
        param[i] = param[i] + (step_size * exp_avg[i]) / (root[i] / bias_correction2_sqrt + eps)
