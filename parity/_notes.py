"""What each compared pair is, in words: the cause of every difference the report shows."""

from __future__ import annotations

from ._config import f32

NOTES = {
    ("*", "jax[torch]", "torch"): (
        "torch's own state_dict()['param_groups'] through jr.conventions.from_torch_optimizer "
        "vs torch.optim itself."
    ),
    ("*", "jax[keras]", "tf"): (
        "Keras's own optimizer config and kernel_regularizers (serialize(...)) through "
        "jr.conventions.from_keras_optimizer / from_keras (tf_rounding in float64) vs Keras on "
        "TensorFlow itself."
    ),
    ("*", "jax", "torch"): (
        "Stock optax vs stock torch.optim: the same algorithms (Adam: eps added to "
        "sqrt(v_hat); AdamW: w -= lr*wd*w decoupled; SGD: buf = mu*buf + g); they differ by "
        "rounding order only. Adam/AdamW in float32 (shown): with jax_enable_x64 off, JAX's "
        "default, optax computes the bias corrections 1 - b^t in float32, torch in Python "
        "floats (float64); 1 - 0.999^t cancels, so optax's correction is off by up to ~1e-4 "
        "relative in the first steps (the jax[x64] row measures it)."
    ),
    ("*", "jax[x64]", "torch"): (
        "The measured cause of the float32 Adam gap between stock optax and torch: the same "
        "optax run with jax_enable_x64 on (bias corrections 1 - b^t in float64, as torch "
        "computes them), shown; every other float32 JAX run keeps x64 off."
    ),
    ("adam", "tf", "torch"): (
        "Not the same algorithm: Keras's Adam adds eps to sqrt(v) ('epsilon hat'), torch to "
        "sqrt(v_hat); in float64 Keras-on-TF also rounds betas and strengths through float32 "
        "(shown). In float32 a negative control in the tutorial preset, whose float32 spread is "
        "far below their difference; in the longer presets float32 rounding grows as large "
        "(shown)."
    ),
    ("adamw", "tf", "torch"): (
        "Keras's AdamW is its 'epsilon hat' Adam plus decoupled decay: not torch's algorithm "
        "(shown)."
    ),
    ("sgd", "tf", "torch"): (
        "Stock Keras-on-TF SGD vs stock torch SGD, unadjusted: the same algorithm. In float64 "
        f"Keras-on-TF rounds the momentum ({f32(0.9)!r}) and the regularizer strength through "
        "float32, which is the whole difference (shown); in float32 graded."
    ),
    ("sgd", "jax", "tf"): (
        "Stock optax.sgd vs Keras-on-TF SGD (m = mu*m - lr*g; w += m): the same update; in "
        "float64 Keras's float32-rounded constants are the difference (shown)."
    ),
    ("*", "torch[keras_f32]", "tf"): (
        "TF vs torch SGD directly: torch given the momentum and strengths measured in the Keras "
        "run (a probe step and probe weights), no converter involved."
    ),
    ("*", "torch[adam_l2]", "torch"): (
        "Negative control: Adam with coupled weight_decay (an L2 penalty) where AdamW's "
        "decoupled decay is meant; must be reported as different."
    ),
    ("*", "tf[no_half]", "tf"): (
        "Negative control: Keras's L2(l2=lambda) (the missing 1/2 forgotten) vs L2(lambda/2); "
        "must be reported as different."
    ),
    ("*", "torch[weight_decay]", "jax"): (
        "torch's coupled weight_decay=wd on a kernels-only group vs jr.l2(wd) on "
        "jr.masks.kernels with stock optax: the gradient of wd/2 * sum w^2."
    ),
    ("*", "jax[torch_wd]", "torch[weight_decay]"): (
        "torch's two param groups (kernels with weight_decay, biases without) through "
        "jr.conventions.from_torch_optimizer(groups=...) vs torch itself."
    ),
    ("*", "jax[keras_exact]", "keras-jax"): (
        "Keras 3 on its JAX backend vs Keras's converted config without tf_rounding: the "
        "float64 constants are not rounded through float32 there."
    ),
    ("*", "jax[keras_exact]", "keras-torch"): (
        "Keras 3 on its torch backend in float64: its constants are exact (measured), but "
        "Keras maps float64 to float32 in its type promotion on every backend but TensorFlow "
        "(keras/src/backend/common/dtypes.py, BIT64_TO_BIT32_DTYPE) and the torch backend's "
        "matmul casts its operands to that type, so every Dense runs in float32: a "
        "float32-sized difference (shown; graded in float32)."
    ),
    ("*", "jax[keras]", "keras-jax"): (
        "Keras 3 on its JAX backend vs Keras's converted config with tf_rounding: in float64 "
        "the difference is the float32 rounding only the TensorFlow backend does (shown); in "
        "float32 graded."
    ),
    ("*", "tf", "keras-jax"): "Keras on TensorFlow vs Keras on JAX in float64 (shown).",
    ("*", "jax[keras]", "keras-torch"): "Keras 3 on its torch backend vs Keras's converted config.",
    ("adamw", "jax[keras]", "keras-torch"): (
        "Keras 3 on its torch backend vs Keras's converted config. In float32 (shown): the torch "
        "backend has its own AdamW step (keras/src/backend/torch/optimizers/torch_optimizer.py, "
        "_apply_weight_decay): w *= 1 - wd*lr, the factor rounded to float32 (0.9999 -> the "
        "decay applied is 1.66e-4 larger, relative, at lr = wd = 0.01; -6.3e-4 at lr 0.003), "
        "where Keras's generic optimizer, which TensorFlow, JAX and the converter follow, "
        "computes w - w*wd*lr: a strength fault of about 1e-4 at every step, 26x to 45x the "
        "noise floor on the seeds where training is calm."
    ),
}


# The scheduled presets (a step schedule and global-norm clipping): their own causes.
SCHEDULED_NOTES = {
    ("jax[torch]", "torch"): (
        "torch's SGD and StepLR (their state_dict() before training, rebuilt) through "
        "jr.conventions.from_torch_optimizer(scheduler=, updates_per_scheduler_step=batches per "
        "epoch), after torch's clip_grad_norm_ formula written in JAX "
        "(g * min(max_norm / (||g|| + 1e-6), 1)), vs torch itself."
    ),
    ("jax[keras]", "tf"): (
        "Keras's SGD with ExponentialDecay(staircase=True) and global_clipnorm (its "
        "serialize(...)) through jr.conventions.from_keras_optimizer, which applies the "
        "schedule and Keras's clipping itself, vs Keras on TensorFlow."
    ),
    ("jax[clip_eps]", "torch"): (
        "Stock optax (exponential_decay(staircase=True), sgd) with torch's clipping formula in "
        "place of optax.clip_by_global_norm vs torch: the measured cause of the jax vs torch row."
    ),
    ("jax", "torch"): (
        "Stock optax vs torch: optax.clip_by_global_norm scales by max_norm / ||g||, torch's "
        "clip_grad_norm_ by max_norm / (||g|| + 1e-6): a 1e-6 / ||g|| relative difference on "
        "each clipped step (shown; the jax[clip_eps] row removes it)."
    ),
    ("jax", "tf"): (
        "Not the same algorithm once the rate changes: Keras's SGD keeps the rate inside its "
        "momentum (m = mu*m - lr*g; w += m), optax and torch outside (b = mu*b + g; w -= lr*b); "
        "equal while the rate is constant (shown; jax[keras] reproduces Keras's form)."
    ),
    ("tf", "torch"): (
        "Keras's rate inside the momentum and torch's clip_grad_norm_ + 1e-6: the two causes "
        "of the rows above (shown)."
    ),
}


FAULT_NOTES = {
    "strength": "every penalty strength (AdamW without a penalty: its weight decay) x (1 + 1e-6)",
    "eps": "Adam's epsilon x 1.01",
    "momentum": "SGD's momentum + 1e-7 (0.9 -> 0.9000001)",
    "lr": "the learning rate plus one float32 ulp",
}


def note(optimizer: str, a: str, b: str, *, scheduled: bool = False) -> str:
    if a.startswith("torch[fault_"):
        fault = a[len("torch[fault_") : -1]
        return (
            f"Fault: torch with {FAULT_NOTES[fault]} vs the correct {b} run; float64 must tell "
            "them apart (1e-12), float32 shows whether its noise floor lets it."
        )
    if scheduled and (a, b) in SCHEDULED_NOTES:
        return SCHEDULED_NOTES[(a, b)]
    return NOTES.get((optimizer, a, b)) or NOTES.get(("*", a, b), "")
