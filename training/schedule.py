"""Learning-rate schedule: linear warm-up, then polynomial or piecewise-constant decay.

Large global batches (many ranks) need a warm-up (Goyal et al. 2017); the DeepCAM references decay the
rate polynomially (Tiramisu) or in steps (MLPerf DeepCAM's multistep schedule).
"""

import training  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)

import tensorflow as tf


class WarmupDecay(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate (1) as a function of the optimizer step (0-based).

    - warm-up, ``step < warmup_steps``: ``peak * (step + 1) / warmup_steps``;
    - ``decay="poly"``: ``end + (peak - end) * (1 - t / T) ** power`` with ``t = step - warmup_steps``,
      ``T = total_steps - warmup_steps`` and ``end = peak * end_factor``; ``end`` from step ``total_steps`` on;
    - ``decay="piecewise"``: ``peak * factors[i]`` from step ``boundaries[i]`` on (absolute steps);
    - ``decay="none"``: ``peak``.

    Parameters
    ----------
    peak : float
        Learning rate after warm-up (already scaled for the number of ranks).
    total_steps : int
        Steps of the whole run (the poly decay reaches its end value there).
    warmup_steps : int
    decay : {"poly", "piecewise", "none"}
    power, end_factor : float
        Poly decay exponent and final rate as a fraction of ``peak``.
    boundaries : sequence of int, factors : sequence of float
        Piecewise decay: the rate is ``peak * factors[i]`` from step ``boundaries[i]`` on.
    """

    def __init__(self, peak, total_steps, *, warmup_steps=0, decay="poly", power=1.0, end_factor=0.0,
                 boundaries=(), factors=()):
        super().__init__()
        if decay not in ("poly", "piecewise", "none"):
            raise ValueError(f"unknown decay {decay!r}; choose poly, piecewise or none")
        if len(boundaries) != len(factors):
            raise ValueError(f"piecewise decay: {len(boundaries)} boundaries but {len(factors)} factors")
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.decay = decay
        self.power = float(power)
        self.end_factor = float(end_factor)
        self.boundaries = [int(b) for b in boundaries]
        self.factors = [float(f) for f in factors]

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        peak = tf.constant(self.peak, tf.float32)
        if self.decay == "poly":
            end = peak * self.end_factor
            decay_steps = float(max(self.total_steps - self.warmup_steps, 1))
            progress = tf.clip_by_value((step - self.warmup_steps) / decay_steps, 0.0, 1.0)
            decayed = end + (peak - end) * (1.0 - progress) ** self.power
        elif self.decay == "piecewise":
            decayed = peak
            for boundary, factor in zip(self.boundaries, self.factors):
                decayed = tf.where(step >= boundary, peak * factor, decayed)
        else:
            decayed = peak
        if self.warmup_steps > 0:
            warm = peak * (step + 1.0) / self.warmup_steps
            return tf.where(step < self.warmup_steps, warm, decayed)
        return decayed

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps,
                "decay": self.decay, "power": self.power, "end_factor": self.end_factor,
                "boundaries": self.boundaries, "factors": self.factors}
