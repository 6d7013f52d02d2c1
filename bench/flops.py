"""FLOPs per sample of the paper's Tiramisu and DeepLabv3+ at 768 x 1152 x 16, counted by TensorFlow's profiler.

    .venv/bin/python bench/flops.py                      # both models, full grid (a few minutes on CPU)
    .venv/bin/python bench/flops.py --models tiramisu --lat 96 --lon 144

For each model the graphs of two concrete functions with batch 1 are built (never run):

- forward: ``model(x, training=False)``;
- training step: forward in training mode, cross-entropy + L2 penalty, ``tape.gradient`` and the
  optimizer's weight update (Adam unless ``--optimizer sgd``).

``tf.compat.v1.profiler`` with ``ProfileOptionBuilder.float_operation()`` sums the FLOPs that TensorFlow
registers per op type (a multiply-add is 2 FLOPs; Conv2D, the transposed conv's Conv2DBackpropInput and
Conv2DBackpropFilter, MatMul, BiasAdd and element-wise arithmetic; batch norm, ReLU and their gradients
are not registered and count 0). TensorFlow's formula for the two conv backprops assumes SAME padding;
atrous convolutions run as VALID convolutions on SpaceToBatchND-padded tensors, for which it overcounts,
so the training-step figure is also given with exact backprop counts.

The paper's 4.2 TF (Tiramisu) and 14.4 TF (DeepLabv3+) per sample are *training* FLOPs per sample,
counted by the authors as 3 x (2 x multiply-adds of the forward convolutions and transposed
convolutions): the backward pass taken as twice the forward. The column "3 x conv" applies exactly that
definition to our models, from the Keras layer shapes alone (also a cross-check of the profiler).
"""

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.framework import ops as framework_ops  # noqa: E402  (the profiler's per-op FLOPs)

from climseg.contract import FULL_GRID, NUM_CLASSES  # noqa: E402
from training.models import build_model  # noqa: E402

PAPER_TFLOP_PER_SAMPLE = {"tiramisu": 4.2, "deeplabv3plus": 14.4}
"""Kurth et al. (SC18), training FLOPs per sample at 768 x 1152 x 16."""

CONV_OPS = ("Conv2D", "Conv2DBackpropInput")
"""Op types of the forward convolutions (Conv2DBackpropInput: the transposed convolutions)."""


def profile_flops(graph) -> dict[str, int]:
    """FLOPs per op type in ``graph``, as TensorFlow's profiler counts them (its "op" view)."""
    options = (tf.compat.v1.profiler.ProfileOptionBuilder(tf.compat.v1.profiler.ProfileOptionBuilder.float_operation())
               .with_empty_output().build())
    report = tf.compat.v1.profiler.profile(graph=graph, cmd="op", options=options)
    by_type, node = {}, report
    while node.children:  # the op view is a chain: each op type holds the next one as its child
        node = node.children[0]
        by_type[node.name] = int(node.float_ops)
    assert sum(by_type.values()) == report.total_float_ops
    return by_type


def conv_backprop_correction(graph) -> int:
    """FLOPs to add to the profiler's count of ``graph`` so that conv backprops count their exact work.

    TensorFlow registers 2 x input positions x kernel x filters / stride^2 for Conv2DBackpropInput and
    Conv2DBackpropFilter, exact for "SAME" padding. Atrous convolutions run as "VALID" convolutions on
    SpaceToBatchND-padded tensors, where the input is larger than the output and that formula
    overcounts. Both backprops do 2 x (output-gradient elements) x kh x kw x input-channel FLOPs.
    """
    correction = 0
    for op in graph.get_operations():
        if op.type not in ("Conv2DBackpropInput", "Conv2DBackpropFilter"):
            continue
        registered = int(framework_ops.get_stats_for_node_def(graph, op.node_def, "flops").value)
        kernel = op.inputs[1].shape if op.type == "Conv2DBackpropInput" else op.outputs[0].shape
        kh, kw, c_in, _ = kernel
        exact = 2 * op.inputs[2].shape.num_elements() * kh * kw * c_in  # inputs[2]: output gradient
        correction += exact - registered
    return correction


def authors_rule_training_flops(forward_graph) -> int:
    """Training FLOPs per sample by the paper authors' counting rule, applied to our forward graph.

    Their script (climate-seg-benchmark, utils/graph_flops.py) takes 2 x (input positions / stride^2) x
    kernel x input channels x filters for every Conv2D op and the exact count for transposed convs, times 3
    for a training step. For the VALID convolutions on SpaceToBatchND-padded tensors that TensorFlow runs
    for atrous convolutions this counts the padded input positions.
    """
    total = 0
    for op in forward_graph.get_operations():
        if op.type == "Conv2D":
            n, h, w, c_in = op.inputs[0].shape
            kh, kw, _, c_out = op.inputs[1].shape
            _, sh, sw, _ = op.get_attr("strides")
            total += 2 * n * (h / sh) * (w / sw) * c_in * c_out * kh * kw
        elif op.type == "Conv2DBackpropInput":
            kh, kw, _, c_in = op.inputs[1].shape
            total += 2 * op.inputs[2].shape.num_elements() * kh * kw * c_in
    return int(3 * total)


def analytic_conv_flops(model) -> int:
    """2 x multiply-adds of the forward convolutions of ``model`` for one sample, from layer shapes alone."""
    total = 0
    for layer in model.layers:
        if not isinstance(layer, tf.keras.layers.Conv2D):
            continue
        kh, kw, c_in, c_out = layer.kernel.shape
        if isinstance(layer, tf.keras.layers.Conv2DTranspose):
            c_in, c_out = c_out, c_in  # kernel (kh, kw, filters, input channels)
            positions = np.prod(layer.input.shape[1:3])  # every input pixel spreads over a k x k window
        else:
            positions = np.prod(layer.output.shape[1:3])
        total += 2 * int(positions) * kh * kw * c_in * c_out
    return total


def model_graphs(name: str, shape: tuple, optimizer_name: str):
    """Concrete-function graphs (batch 1) of the forward pass and of a training step of model ``name``."""
    model = build_model(name, shape)
    x_spec = tf.TensorSpec((1, *shape), tf.float32)
    labels_spec = tf.TensorSpec((1, *shape[:2]), tf.int32)
    optimizer = (tf.keras.optimizers.Adam(1e-3) if optimizer_name == "adam"
                 else tf.keras.optimizers.SGD(1e-2, momentum=0.9))
    optimizer.build(model.trainable_variables)

    @tf.function
    def forward(x):
        return model(x, training=False)

    @tf.function
    def training_step(x, labels):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)  # (1, lat, lon, classes)
            loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
            loss += tf.add_n(model.losses)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return (model, forward.get_concrete_function(x_spec).graph,
            training_step.get_concrete_function(x_spec, labels_spec).graph)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(PAPER_TFLOP_PER_SAMPLE),
                        choices=list(PAPER_TFLOP_PER_SAMPLE), help="models to count (default: both)")
    parser.add_argument("--lat", type=int, default=FULL_GRID[0], help="grid points in latitude (default 768)")
    parser.add_argument("--lon", type=int, default=FULL_GRID[1], help="grid points in longitude (default 1152)")
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--optimizer", choices=["adam", "sgd"], default="adam",
                        help="optimizer whose weight update is counted in the training step (default adam)")
    args = parser.parse_args(argv)
    shape = (args.lat, args.lon, args.channels)
    full_grid = (args.lat, args.lon) == FULL_GRID
    print(f"# FLOPs per sample at {args.lat} x {args.lon} x {args.channels}, batch 1, {NUM_CLASSES} classes, "
          f"TensorFlow {tf.__version__} profiler (1 multiply-add = 2 FLOPs)")

    rows, breakdowns = [], {}
    for name in args.models:
        start = time.perf_counter()
        model, forward_graph, step_graph = model_graphs(name, shape, args.optimizer)
        forward, step = profile_flops(forward_graph), profile_flops(step_graph)
        print(f"# {name}: graphs built and profiled in {time.perf_counter() - start:.0f} s", flush=True)
        forward_conv = sum(forward.get(op, 0) for op in CONV_OPS)
        rows.append(dict(name=name, params=model.count_params(), forward=sum(forward.values()),
                         forward_fixed=sum(forward.values()) + conv_backprop_correction(forward_graph),
                         step=sum(step.values()), step_fixed=sum(step.values()) + conv_backprop_correction(step_graph),
                         forward_conv=forward_conv, analytic=analytic_conv_flops(model),
                         authors_rule=authors_rule_training_flops(forward_graph)))
        breakdowns[name] = step
        tf.keras.backend.clear_session()

    tera = 1e12
    print()
    print(f"{'model':<14} {'params':>7} {'forward':>8} {'step (TF)':>10} {'step':>8} {'3 x conv':>9} {'paper':>6} "
          f"{'step/paper':>11} {'3xconv/paper':>13}")
    for r in rows:
        paper = PAPER_TFLOP_PER_SAMPLE[r["name"]] if full_grid else float("nan")
        print(f"{r['name']:<14} {r['params'] / 1e6:>6.2f}M {r['forward_fixed'] / tera:>7.3f}T {r['step'] / tera:>9.3f}T "
              f"{r['step_fixed'] / tera:>7.3f}T {3 * r['analytic'] / tera:>8.3f}T {paper:>5.1f}T "
              f"{r['step_fixed'] / tera / paper:>11.3f} {3 * r['analytic'] / tera / paper:>13.3f}")
    print()
    print("columns, TFLOP per sample: forward = profiler, forward graph; step (TF) = profiler, training-step graph,\n"
          "as registered; step = the same with exact conv-backprop counts (see note); 3 x conv = the paper's\n"
          "definition applied to our model: 3 x forward conv FLOPs from the layer shapes; paper = Kurth et al.")
    print("cross-check, forward conv FLOPs, profiler vs layer shapes (the profiler includes the zero padding\n"
          "of atrous convs run as SpaceToBatchND + VALID conv): " + ", ".join(
              f"{r['name']} {r['forward_conv'] / tera:.4f}T vs {r['analytic'] / tera:.4f}T" for r in rows))
    print("the authors' counting rule (conv FLOPs from input positions, x 3) applied to our graphs: " + ", ".join(
        f"{r['name']} {r['authors_rule'] / tera:.3f}T" + (f" ({r['authors_rule'] / tera / PAPER_TFLOP_PER_SAMPLE[r['name']]:.3f}"
                                                         " of the paper's)" if full_grid else "") for r in rows))
    for name, step in breakdowns.items():
        total = sum(step.values())
        top = sorted(step.items(), key=lambda item: -item[1])[:6]
        print(f"training step of {name}, profiler by op type: " + ", ".join(
            f"{op} {flops / total:.1%}" for op, flops in top))
    print()
    print("note: all counts use 2 FLOPs per multiply-add and are per sample of a training step where not\n"
          "'forward'. The paper's figures are training FLOPs per sample computed (authors' graph_flops.py) as\n"
          "3 x the forward convolutions' FLOPs (backward = 2 x forward; nothing else counted): the same\n"
          "definition as our '3 x conv' column. Our 'step' column is what the profiler finds in the actual\n"
          "gradient graph (input and filter gradients of the convs, bias and element-wise ops, the optimizer's\n"
          "update; batch norm and ReLU count 0 in both): the first layer needs no input gradient, atrous\n"
          "convs carry their padding. TensorFlow's registered Conv2DBackpropInput/Filter formulas assume SAME\n"
          "padding and overcount the VALID convs behind atrous convolutions, hence 'step (TF)' > 'step'; the\n"
          "authors' rule overcounts their forward convs the same way, which is where most of the paper's\n"
          "DeepLabv3+ figure above our 'step' comes from. Tiramisu: our transitions down follow Jegou et al.\n"
          "(1x1 conv at full resolution, then max pool); the authors' code strides the 1x1 conv instead, a\n"
          "quarter of the cost: 0.13 TF per training sample at 768 x 1152, most of our excess over 4.2 TF.")
    if full_grid:
        ratios = " / ".join(f"{r['step_fixed'] / tera / PAPER_TFLOP_PER_SAMPLE[r['name']]:.3f}" for r in rows)
        names = " / ".join(r["name"] for r in rows)
        print(f"ratio: {ratios} (profiled training-step FLOPs per sample / paper's, {names}; goal: close to 1)")
    else:
        print("ratio: n/a (the paper's figures are for 768 x 1152; run without --lat/--lon to compare)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
