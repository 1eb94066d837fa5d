"""Logprobs and entropies with the vocabulary projection in chunks (``logits_chunk``) equal the
direct computation (``logits_chunk=0``), values and gradients, and never keep ``[N, V]`` logits
for the backward pass."""

from __future__ import annotations

import pytest
import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from transformers import AutoModelForCausalLM

from rlfb.learner.logprobs import _body_and_head, logprobs_and_entropy
from rlfb.learner.objective import LossSettings
from rlfb.learner.policy import PolicyLearner
from rlfb.models.tiny import make_tiny_model
from rlfb.types import ExperienceBatch

ATOL = 1e-5  # float32 CPU


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = make_tiny_model(tmp_path_factory.mktemp("chunk") / "m", arch="llama", seed=3)
    return AutoModelForCausalLM.from_pretrained(path).eval()


def _batch():
    """3 rows of 5, 9 and 7 real tokens (right-padded to 9), the first 2 of each the prompt:
    3 + 7 + 5 = 15 target positions."""
    gen = torch.Generator().manual_seed(0)
    lengths = [5, 9, 7]
    ids = torch.full((3, 9), 1, dtype=torch.long)
    attn = torch.zeros_like(ids)
    comp = torch.zeros_like(ids)
    for b, n in enumerate(lengths):
        ids[b, :n] = torch.randint(4, 500, (n,), generator=gen)
        attn[b, :n] = 1
        comp[b, 2:n] = 1
    return ids, attn, comp


def _grads(model, method: str, chunk: int):
    """Logprobs, entropies and the parameter gradients of a loss that weighs both per token."""
    ids, attn, comp = _batch()
    model.zero_grad(set_to_none=True)
    lp, ent = logprobs_and_entropy(model, ids, attn, comp, temperature=0.7, method=method,
                                   logits_chunk=chunk)
    weights = torch.linspace(-1.0, 1.0, lp.numel()).reshape(lp.shape)
    ((lp * weights).sum() - 0.1 * ent.sum()).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return lp.detach(), ent.detach(), grads


@pytest.mark.parametrize("method", ["packed", "bucketed", "padded"])
@pytest.mark.parametrize("chunk", [1, 4, 1000])
def test_chunked_equals_direct_values_and_gradients(model, method, chunk):
    lp0, ent0, g0 = _grads(model, method, 0)
    lp, ent, g = _grads(model, method, chunk)
    _, _, comp = _batch()
    assert int((lp0 != 0).sum()) == 15  # every target position got a logprob, nothing else
    torch.testing.assert_close(lp, lp0, atol=ATOL, rtol=0)
    torch.testing.assert_close(ent, ent0, atol=ATOL, rtol=0)
    assert bool((ent[comp == 0] == 0).all())
    assert g.keys() == g0.keys() and "lm_head.weight" in g or "model.embed_tokens.weight" in g
    for name in g0:
        torch.testing.assert_close(g[name], g0[name], atol=1e-5, rtol=1e-4, msg=name)


def test_chunks_bound_the_logits_kept_for_backward(model):
    """Direct: tensors of [15, V] are kept for the backward pass; chunked by 4: no
    vocabulary-sized tensor is kept (each chunk's are recomputed in the backward pass), and the
    output layer never sees more than 4 positions at once."""
    vocab = model.config.vocab_size
    seen: list[int] = []
    hook = model.get_output_embeddings().register_forward_hook(
        lambda mod, inp, out: seen.append(out.reshape(-1, out.shape[-1]).shape[0]))
    ids, attn, comp = _batch()
    weights = {p.data_ptr() for p in model.parameters()}
    try:
        for chunk, kept_rows in ((0, {15}), (4, set())):
            saved: list[tuple[int, ...]] = []

            def pack(t, saved=saved):
                if t.data_ptr() not in weights:  # activations, not the (tied) output weight
                    saved.append(tuple(t.shape))
                return t

            seen.clear()
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                lp, ent = logprobs_and_entropy(model, ids, attn, comp, method="padded",
                                               logits_chunk=chunk)
            (lp.sum() + ent.sum()).backward()
            vocab_sized = [torch.Size(s[:-1]).numel() for s in saved if s and s[-1] == vocab]
            assert set(vocab_sized) == kept_rows
            assert max(seen) <= (27 if chunk == 0 else 4)  # direct padded: all 3 x 9 positions
            if chunk:
                assert len(seen) == 2 * 4  # 4 chunks, each recomputed once in the backward
    finally:
        hook.remove()


def test_models_that_transform_logits_use_the_direct_computation(model):
    assert _body_and_head(model) is not None
    model.config.final_logit_softcapping = 30.0
    try:
        assert _body_and_head(model) is None
    finally:
        del model.config.final_logit_softcapping


def test_policy_update_is_the_same_chunked_and_with_gradient_checkpointing(tmp_path):
    """One learner update: direct, chunked by 4, and chunked with gradient checkpointing give
    the same metrics and gradients (the learner's memory settings change no result). The
    gradients are compared, not AdamW's first step, which moves every weight by about
    lr * sign(grad) and so turns a rounding difference in a near-zero gradient into lr."""
    path = make_tiny_model(tmp_path / "m", arch="llama", seed=3)
    ids, attn, comp = _batch()
    adv = torch.tensor([[1.0], [-0.5], [2.0]]).expand(3, 9) * comp
    batch = ExperienceBatch(input_ids=ids, attention_mask=attn, loss_mask=comp.float(),
                            old_logprobs=-0.5 * comp.float(), advantages=adv.contiguous())
    runs = []
    for chunk, checkpointing in ((0, False), (4, False), (4, True)):
        learner = PolicyLearner(str(path), LossSettings(entropy_coef=0.01), lr=1e-2,
                                logits_chunk=chunk, gradient_checkpointing=checkpointing)
        stats = learner.update(batch)
        runs.append((stats, {n: p.grad.clone() for n, p in learner.model.named_parameters()}))
    (s0, g0), *others = runs
    for stats, grads in others:
        for key in ("learner/loss", "learner/entropy", "learner/grad_norm"):
            assert stats[key] == pytest.approx(s0[key], rel=1e-5, abs=1e-7), key
        for name in g0:
            torch.testing.assert_close(grads[name], g0[name], atol=1e-6, rtol=1e-4, msg=name)


class _VocabSizedStorages(TorchDispatchMode):
    """Records a weak reference to the storage of every tensor of vocabulary width that an
    operation returns (forward and backward, recomputed chunks included)."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.refs: list[tuple[int, StorageWeakRef]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.dim() == 2 and t.shape[-1] == self.vocab:
                storage = t.untyped_storage()
                self.refs.append((storage.data_ptr(), StorageWeakRef(storage)))
        return out

    def alive(self, model) -> set[int]:
        """Storages still allocated, other than the model's weights and their gradients (the
        output layer's gradient is the transpose of a [hidden, V] product)."""
        owned = {t.untyped_storage().data_ptr() for p in model.parameters()
                 for t in (p, p.grad) if t is not None}
        return {ptr for ptr, ref in self.refs if not ref.expired() and ptr not in owned}


@pytest.mark.parametrize("chunk", [0, 4])
def test_entropy_without_gradient_leaves_no_vocabulary_tensors_after_backward(model, chunk):
    """With ``entropy_grad=False`` (no entropy term in the loss) the entropies are the same
    values without a graph, the logprobs' gradients are unchanged bit for bit, and once the
    backward pass of the logprobs has run no [positions, V] tensor is left while the entropies
    are still held, as the learner holds them until its next micro-batch. With the entropy's
    graph (``entropy_grad=True``) its exp(logp) and logp stay allocated: in the chunked path
    one recomputed pair per chunk, 0.1 GB each for SmolLM2's chunks of 256 positions."""
    ids, attn, comp = _batch()
    results = {}
    for entropy_grad in (True, False):
        model.zero_grad(set_to_none=True)
        watch = _VocabSizedStorages(model.config.vocab_size)
        with watch:
            lp, ent = logprobs_and_entropy(model, ids, attn, comp, temperature=0.7,
                                           method="packed", logits_chunk=chunk,
                                           entropy_grad=entropy_grad)
            (lp * torch.linspace(-1.0, 1.0, lp.numel()).reshape(lp.shape)).sum().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results[entropy_grad] = (lp.detach(), ent.detach(), grads, watch.alive(model),
                                 ent.requires_grad)
        del lp, ent
    lp1, ent1, g1, alive1, ent_graph1 = results[True]
    lp0, ent0, g0, alive0, ent_graph0 = results[False]
    assert torch.equal(lp0, lp1) and torch.equal(ent0, ent1)
    assert g0.keys() == g1.keys() and all(torch.equal(g0[n], g1[n]) for n in g0)
    assert ent_graph1 and not ent_graph0
    assert alive1  # the entropy's saved tensors: what entropy_grad=False removes
    assert alive0 == set()


@pytest.mark.parametrize("entropy_coef", [0.0, 0.01])
def test_learner_keeps_the_entropy_graph_only_with_an_entropy_term(tmp_path, entropy_coef):
    path = make_tiny_model(tmp_path / "m", arch="llama", seed=3)
    learner = PolicyLearner(str(path), LossSettings(entropy_coef=entropy_coef), logits_chunk=4)
    ids, attn, comp = _batch()
    logp, entropy = learner._forward(learner.model, ids, attn, comp.float())
    assert logp.requires_grad
    assert entropy.requires_grad == (entropy_coef != 0)
