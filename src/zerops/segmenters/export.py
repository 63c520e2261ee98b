"""Batched multimask decoders built from the shipped single-mask SAM decoder ``sam.onnx``.

The shipped graph (the official ``SamOnnxModel`` export, MobileSAM weights) takes one prompt and returns
one mask, although it computes all four mask tokens. Two ways to get the candidates for B prompts:

* :func:`multimask_graph` (no torch needed): graph surgery. The batch dimension of the point inputs is
  made symbolic and the four low-res logits ``/Reshape_9_output_0`` (B, 4, 256, 256) and IoU predictions
  ``/iou_prediction_head/layers.2/Gemm_output_0`` (B, 4) become the outputs. Correct for any B, but the
  image-side work (tiling the embedding, positional encoding, layer-0 key/value projections) is
  repeated per prompt.
* :func:`build_batched_decoder` (needs torch once): the prompt encoder and mask decoder re-implemented
  in torch (:class:`MultimaskDecoder`) with the weights read from the graph's initializers, exported
  to ONNX with symbolic B and K. Prompt-independent work runs once per call and broadcasts.

Both take ``image_embeddings`` (1, 256, 64, 64), ``point_coords`` (B, K, 2) in the 1024-pixel model
frame (SAM convention: the graph adds 0.5), ``point_labels`` (B, K) float (1 positive, 0 negative,
-1 padding) and return ``low_res_masks`` (B, 4, 256, 256) float32 logits and ``iou_predictions``
(B, 4) float32. Token 0 is the single-mask output, tokens 1-3 the multimask candidates.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from zerops.errors import ZeropsError
from zerops.io.files import atomic_path

__all__ = ["LOWRES_OUTPUT", "IOU_OUTPUT", "multimask_graph", "with_candidate_outputs", "decoder_weights",
           "MultimaskDecoder", "build_batched_decoder", "EXPORT_VERSION"]

LOWRES_OUTPUT = "/Reshape_9_output_0"
IOU_OUTPUT = "/iou_prediction_head/layers.2/Gemm_output_0"
EXPORT_VERSION = 1          # bump when MultimaskDecoder changes: it is part of the cache key
_INPUT_SIZE = 1024.0
_NUM_HEADS = 8


def multimask_graph(model):
    """Return a copy of the shipped decoder ``onnx.ModelProto`` exposing the 4 candidates, batch B.

    Inputs: image_embeddings, point_coords, point_labels, mask_input, has_mask_input.
    Outputs: low_res_masks (B, 4, 256, 256), iou_predictions (B, 4).
    Raises ZeropsError if the graph is not the expected SAM decoder export.
    """
    import onnx
    from onnx import TensorProto, helper

    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    produced = {o for n in g.node for o in n.output}
    if LOWRES_OUTPUT not in produced or IOU_OUTPUT not in produced:
        raise ZeropsError("the decoder ONNX is not the SAM decoder export this package expects (no "
                          f"'{LOWRES_OUTPUT}'): run `zerops models fetch --force`")
    for inp in g.input:
        if inp.name in ("point_coords", "point_labels"):
            dim = inp.type.tensor_type.shape.dim[0]
            dim.ClearField("dim_value")
            dim.dim_param = "B"
    # Rename the two intermediate tensors into proper outputs through Identity nodes.
    del g.output[:]
    g.node.extend([helper.make_node("Identity", [LOWRES_OUTPUT], ["low_res_masks_all"]),
                   helper.make_node("Identity", [IOU_OUTPUT], ["iou_predictions_all"])])
    g.output.extend([helper.make_tensor_value_info("low_res_masks_all", TensorProto.FLOAT, ["B", 4, 256, 256]),
                     helper.make_tensor_value_info("iou_predictions_all", TensorProto.FLOAT, ["B", 4])])
    # Drop what no output needs (the single-mask selection and its upscaling).
    needed = {o.name for o in g.output}
    keep = []
    for node in reversed(list(g.node)):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(i for i in node.input if i)
    keep.reverse()
    del g.node[:]
    g.node.extend(keep)
    inputs = [i for i in g.input if i.name in needed]
    del g.input[:]
    g.input.extend(inputs)
    inits = [t for t in g.initializer if t.name in needed]
    del g.initializer[:]
    g.initializer.extend(inits)
    del g.value_info[:]
    return m


def with_candidate_outputs(model):
    """Copy of the shipped decoder (batch 1, single-mask outputs kept) with the 4 candidates' low-res
    logits and IoUs appended as outputs 3 and 4: the reference the batched decoders are checked against."""
    import onnx
    from onnx import TensorProto, helper

    m = onnx.ModelProto()
    m.CopyFrom(model)
    produced = {o for n in m.graph.node for o in n.output}
    if LOWRES_OUTPUT not in produced or IOU_OUTPUT not in produced:
        raise ZeropsError("the decoder ONNX is not the SAM decoder export this package expects (no "
                          f"'{LOWRES_OUTPUT}'): run `zerops models fetch --force`")
    m.graph.output.extend([helper.make_tensor_value_info(LOWRES_OUTPUT, TensorProto.FLOAT, [1, 4, 256, 256]),
                           helper.make_tensor_value_info(IOU_OUTPUT, TensorProto.FLOAT, [1, 4])])
    return m


def decoder_weights(model) -> dict[str, np.ndarray]:
    """Weights of the shipped decoder graph under torch-style names (linear weights as (out, in))."""
    from onnx import numpy_helper

    g = model.graph
    init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    consts = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in g.node
              if n.op_type == "Constant" and n.attribute}
    w: dict[str, np.ndarray] = {}
    for name, arr in init.items():
        for prefix in ("mask_decoder.", "model.prompt_encoder."):
            if name.startswith(prefix):
                w[name[len(prefix):] if prefix == "mask_decoder." else "prompt_encoder." + name[len(prefix):]] = arr
    for node in g.node:
        if node.op_type == "MatMul" and len(node.input) == 2 and node.input[1] in init \
                and node.name.endswith("/MatMul") and node.name.startswith("/transformer/"):
            # e.g. transformer.layers.0.self_attn.q_proj.weight
            key = node.name[1:-len("/MatMul")].replace("/", ".") + ".weight"
            w[key] = init[node.input[1]].T
        elif node.name == "/Expand_1":
            w["output_tokens"] = init[node.input[0]].reshape(-1, init[node.input[0]].shape[-1])
        elif node.name == "/Mul_9":
            w["no_mask_embed"] = init[node.input[1]].reshape(-1)
        elif node.name == "/output_upscaling/output_upscaling.1/Mul":
            w["output_upscaling.1.weight"] = init[node.input[0]].reshape(-1)
        elif node.name == "/output_upscaling/output_upscaling.1/Add_1":
            w["output_upscaling.1.bias"] = init[node.input[1]].reshape(-1)
        elif node.name == "/pe_layer/MatMul":
            w["dense_pe_grid"] = consts[node.input[0]]
    required = ["output_tokens", "no_mask_embed", "output_upscaling.1.weight", "dense_pe_grid",
                "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix",
                "transformer.final_attn_token_to_image.out_proj.weight"]
    missing = [k for k in required if k not in w]
    if missing:
        raise ZeropsError(f"the decoder ONNX lacks expected weights ({', '.join(missing)}): it is not the SAM "
                          "decoder export this package expects")
    return w


def _torch_decoder_class():  # noqa: C901 (builds the torch module class; its methods count toward it)
    """Long: a class factory (torch is imported lazily); its lines are the methods of the one class it builds."""
    import torch
    from torch import nn

    class _Attention(nn.Module):
        def __init__(self, w: dict, key: str) -> None:
            super().__init__()
            for p in ("q_proj", "k_proj", "v_proj", "out_proj"):
                lin = nn.Linear(w[f"{key}.{p}.weight"].shape[1], w[f"{key}.{p}.weight"].shape[0])
                lin.weight.data = torch.from_numpy(np.array(w[f"{key}.{p}.weight"], dtype=np.float32))
                lin.bias.data = torch.from_numpy(np.array(w[f"{key}.{p}.bias"], dtype=np.float32))
                setattr(self, p, lin)
            self.dim = self.q_proj.weight.shape[0]
            self.head = self.dim // _NUM_HEADS

        def split(self, x):                       # (b, n, dim) -> (b, heads, n, head)
            return x.reshape(x.shape[0], x.shape[1], _NUM_HEADS, self.head).transpose(1, 2)

        def forward(self, q, k, v, q_done=None, kv_done=None):
            """Attention; ``q_done`` / ``kv_done`` pass already split projections (shared across prompts)."""
            qh = q_done if q_done is not None else self.split(self.q_proj(q))
            kh, vh = kv_done if kv_done is not None else (self.split(self.k_proj(k)), self.split(self.v_proj(v)))
            attn = torch.softmax(torch.matmul(qh, kh.transpose(-1, -2)) / math.sqrt(self.head), dim=-1)
            out = torch.matmul(attn, vh)          # (b, heads, nq, head)
            out = out.transpose(1, 2).reshape(out.shape[0], out.shape[2], self.dim)
            return self.out_proj(out)

    def _ln(w: dict, key: str) -> nn.LayerNorm:
        ln = nn.LayerNorm(w[f"{key}.weight"].shape[0], eps=1e-5)
        ln.weight.data = torch.from_numpy(np.array(w[f"{key}.weight"], dtype=np.float32))
        ln.bias.data = torch.from_numpy(np.array(w[f"{key}.bias"], dtype=np.float32))
        return ln

    def _mlp(w: dict, key: str, names) -> nn.ModuleList:
        layers = nn.ModuleList()
        for n in names:
            wt = w[f"{key}.{n}.weight"]
            lin = nn.Linear(wt.shape[1], wt.shape[0])
            lin.weight.data = torch.from_numpy(np.array(wt, dtype=np.float32))
            lin.bias.data = torch.from_numpy(np.array(w[f"{key}.{n}.bias"], dtype=np.float32))
            layers.append(lin)
        return layers

    class MultimaskDecoder(nn.Module):
        """SAM prompt encoder (points only, no mask input) + two-way transformer mask decoder, batched.

        ``forward(image_embeddings (1, C, 64, 64), point_coords (B, K, 2), point_labels (B, K))`` ->
        ``(low_res_masks (B, 4, 256, 256), iou_predictions (B, 4))``. Image-side tensors keep batch 1
        until the first image-to-token attention makes them prompt-dependent.
        """

        def __init__(self, w: dict[str, np.ndarray]) -> None:
            super().__init__()
            t = lambda a: torch.from_numpy(np.array(a, dtype=np.float32, copy=True))  # noqa: E731
            self.register_buffer("gauss", t(w["prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"]))
            self.register_buffer("point_embed", t(np.concatenate(
                [w[f"prompt_encoder.point_embeddings.{i}.weight"] for i in range(4)], 0)))   # (4, C)
            self.register_buffer("not_a_point", t(w["prompt_encoder.not_a_point_embed.weight"].reshape(-1)))
            self.register_buffer("no_mask", t(w["no_mask_embed"]))
            self.register_buffer("output_tokens", t(w["output_tokens"]))                     # (5, C)
            grid = t(w["dense_pe_grid"])                                                      # (64, 64, 2) in [-1, 1]
            self.register_buffer("image_pe", self._fourier(grid).reshape(1, -1, 2 * self.gauss.shape[1]))   # (1, HW, C)
            self.layers = nn.ModuleList()
            for i in range(2):
                key = f"transformer.layers.{i}"
                block = nn.Module()
                block.self_attn = _Attention(w, f"{key}.self_attn")
                block.t2i = _Attention(w, f"{key}.cross_attn_token_to_image")
                block.i2t = _Attention(w, f"{key}.cross_attn_image_to_token")
                block.mlp = _mlp(w, f"{key}.mlp", ("lin1", "lin2"))
                for j in range(1, 5):
                    setattr(block, f"norm{j}", _ln(w, f"{key}.norm{j}"))
                self.layers.append(block)
            self.final_attn = _Attention(w, "transformer.final_attn_token_to_image")
            self.norm_final = _ln(w, "transformer.norm_final_attn")
            # The 2x2 stride-2 transposed convolutions as matmuls on token-major layout:
            # (Cin, Cout, 2, 2) -> (Cin, 2*2*Cout) with columns ordered (dy, dx, cout).
            for name, key in (("up1", "output_upscaling.0"), ("up2", "output_upscaling.3")):
                wt = w[f"{key}.weight"]
                self.register_buffer(f"{name}_w", t(wt.transpose(0, 2, 3, 1).reshape(wt.shape[0], -1)))
                self.register_buffer(f"{name}_b", t(np.tile(w[f"{key}.bias"], 4)))
            self.up_ln = nn.LayerNorm(w["output_upscaling.1.weight"].shape[0], eps=1e-6)
            self.up_ln.weight.data = t(w["output_upscaling.1.weight"])
            self.up_ln.bias.data = t(w["output_upscaling.1.bias"])
            self.hyper = nn.ModuleList(_mlp(w, f"output_hypernetworks_mlps.{i}.layers", ("0", "1", "2"))
                                       for i in range(4))
            self.iou_head = _mlp(w, "iou_prediction_head.layers", ("0", "1", "2"))

        def _fourier(self, coords01x2m1):
            proj = torch.matmul(coords01x2m1, self.gauss) * (2 * math.pi)
            return torch.cat([torch.sin(proj), torch.cos(proj)], dim=-1)

        def _embed_points(self, coords, labels):
            pe = self._fourier(2.0 * ((coords + 0.5) / _INPUT_SIZE) - 1.0)           # (B, K, C)
            lab = labels.unsqueeze(-1)
            emb = pe * (lab != -1).to(pe.dtype) + self.not_a_point * (lab == -1).to(pe.dtype)
            for i in range(4):
                emb = emb + self.point_embed[i] * (lab == i).to(pe.dtype)
            return emb

        @staticmethod
        def _run_mlp(layers, x):
            for i, lin in enumerate(layers):
                x = lin(x)
                if i < len(layers) - 1:
                    x = torch.relu(x)
            return x

        def forward(self, image_embeddings, point_coords, point_labels):
            b = point_coords.shape[0]
            sparse = self._embed_points(point_coords, point_labels)
            tokens = torch.cat([self.output_tokens.unsqueeze(0).expand(b, -1, -1), sparse], dim=1)
            c = image_embeddings.shape[1]
            src = image_embeddings + self.no_mask.reshape(1, c, 1, 1)
            h, w = src.shape[2], src.shape[3]
            keys = src.flatten(2).transpose(1, 2)                                       # (1, HW, C)
            key_pe = self.image_pe                                                      # (1, HW, C)
            queries, query_pe = tokens, tokens
            for i, blk in enumerate(self.layers):
                if i == 0:
                    queries = blk.norm1(blk.self_attn(queries, queries, queries))
                else:
                    qq = queries + query_pe
                    queries = blk.norm1(queries + blk.self_attn(qq, qq, queries))
                qq = queries + query_pe
                kk = keys + key_pe
                queries = blk.norm2(queries + blk.t2i(qq, kk, keys))
                mlp = blk.mlp[1](torch.relu(blk.mlp[0](queries)))
                queries = blk.norm3(queries + mlp)
                qq = queries + query_pe
                attn = blk.i2t(kk, qq, queries)                                         # (B, HW, C)
                keys = blk.norm4(keys.expand(attn.shape[0], -1, -1) + attn)               # batch B from here on
            qq = queries + query_pe
            kk = keys + key_pe
            queries = self.norm_final(queries + self.final_attn(qq, kk, keys))
            mask_tokens = queries[:, 1:5, :]
            # Upscaling in token-major layout; rows of ``up`` are (y, x, dy, dx, ey, ex) at the end.
            c1 = self.up_ln.weight.shape[0]
            up = torch.matmul(keys, self.up1_w) + self.up1_b                          # (B, HW, 4*C1)
            up = torch.nn.functional.gelu(self.up_ln(up.reshape(b, h * w * 4, c1)))
            up = torch.nn.functional.gelu(torch.matmul(up, self.up2_w) + self.up2_b)  # (B, 4HW, 4*C2)
            c2 = self.up2_b.shape[0] // 4
            up = up.reshape(b, h * w * 16, c2)
            hyper = torch.stack([self._run_mlp(self.hyper[i], mask_tokens[:, i, :]) for i in range(4)], dim=2)
            masks = torch.matmul(up, hyper)                                              # (B, 16HW, 4)
            masks = masks.reshape(b, h, w, 2, 2, 2, 2, 4).permute(0, 7, 1, 3, 5, 2, 4, 6)
            masks = masks.reshape(b, 4, 4 * h, 4 * w)
            iou = self._run_mlp(self.iou_head, queries[:, 0, :])
            return masks, iou

    return MultimaskDecoder


def MultimaskDecoder(weights: dict[str, np.ndarray]):  # noqa: N802 - factory keeps torch import lazy
    """Build the torch :class:`MultimaskDecoder` module from :func:`decoder_weights` (needs torch)."""
    return _torch_decoder_class()(weights)


def build_batched_decoder(src_model, dst: Path, opset: int = 17) -> Path:
    """Export the torch re-implementation of ``src_model``'s decoder to ``dst`` (atomic write).

    Needs torch (and its legacy TorchScript ONNX exporter). Raises ImportError / RuntimeError on failure.
    """
    import torch

    weights = decoder_weights(src_model)
    module = MultimaskDecoder(weights).eval()
    emb = torch.zeros(1, 256, 64, 64)
    coords = torch.zeros(2, 3, 2)
    labels = torch.ones(2, 3)
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dst) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")            # the legacy exporter's deprecation notices
        torch.onnx.export(module, (emb, coords, labels), str(tmp), dynamo=False, opset_version=opset,
                          input_names=["image_embeddings", "point_coords", "point_labels"],
                          output_names=["low_res_masks_all", "iou_predictions_all"],
                          dynamic_axes={"point_coords": {0: "B", 1: "K"}, "point_labels": {0: "B", 1: "K"},
                                        "low_res_masks_all": {0: "B"}, "iou_predictions_all": {0: "B"}})
    return dst
