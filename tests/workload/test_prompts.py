"""Prompts are token-exact, deterministic, and put the needle where they say."""
import numpy as np
import pytest

from evalsuite.tasks.niah import ANSWER, NEEDLE, NiahSuite
from evalsuite.tasks.passkey import PasskeySuite
from evalsuite.types import EvalError, Generation
from evalsuite.workload import cache as workload
from evalsuite.workload.tokenization import Tokenizer
from tests.helpers.suites import make

LENGTHS = [256, 300, 512, 1024, 2048]


def _gen(text):
    return Generation(text, (), 0.0)


@pytest.fixture(scope="module")
def tok(tiny_model):
    return Tokenizer.load(str(tiny_model))


@pytest.mark.parametrize("task_cls", [PasskeySuite, NiahSuite])
@pytest.mark.parametrize("seed", [0, 7])
def test_exact_budget_and_determinism(tok, task_cls, seed):
    task = make(task_cls, seed=seed, samples=3, depths=4)
    for n in LENGTHS:
        reqs = task.requests(tok, n)
        assert reqs, n
        for r in reqs:
            assert len(r.prompt_ids) + r.max_new_tokens == n       # token-exact, BOS included
            assert r.prompt_ids[0] == tok.bos[0] and r.length == n
        again = make(task_cls, seed=seed, samples=3, depths=4).requests(tok, n)
        assert [r.key for r in again] == [r.key for r in reqs]        # byte-identical ids


def test_seeds_change_passkeys(tok):
    a = make(PasskeySuite, seed=0, samples=5).requests(tok, 512)
    b = make(PasskeySuite, seed=1, samples=5).requests(tok, 512)
    assert [r.references for r in a] != [r.references for r in b]


def test_passkey_is_in_the_prompt_at_its_depth(tok):
    reqs = make(PasskeySuite, samples=5).requests(tok, 1024)
    for r in reqs:
        text = tok.decode(r.prompt_ids)
        key = r.references[0]
        assert f"The pass key is {key}. Remember it. {key} is the pass key." in text
        assert text.startswith("There is an important info hidden")
        assert text.endswith("What is the pass key? The pass key is")
        assert 1 <= int(key) <= 50000
    positions = [tok.decode(r.prompt_ids).index("The pass key is") for r in reqs]
    assert positions == sorted(positions)                              # depths 0..100 in order


def test_needle_sits_at_a_sentence_end(tok):
    reqs = make(NiahSuite, depths=5).requests(tok, 1024)
    assert [r.depth for r in reqs] == [0, 25, 50, 75, 100]
    for r in reqs:
        text = tok.decode(r.prompt_ids)
        assert text.count(NEEDLE) == 1 and r.references == (ANSWER,)
        before = text[: text.index(NEEDLE)].rstrip()
        if r.depth < 100:                          # depth 100 appends after the cut context (reference)
            assert before == "" or before.endswith((".", "?", "!")), before[-40:]
        assert "San Francisco" not in text.replace(NEEDLE, "").split("\nQuestion:")[0]


def test_niah_from_a_local_haystack_file(tok, tmp_path):
    (tmp_path / "b.txt").write_text("Second file sentence. " * 5)
    (tmp_path / "a.txt").write_text("First file sentence. " * 5)
    reqs = make(NiahSuite, depths=2, haystack=str(tmp_path)).requests(tok, 512)
    text = tok.decode(reqs[0].prompt_ids)
    assert text.index("First file") < text.index("Second file")       # sorted, deterministic order
    assert all(len(r.prompt_ids) + r.max_new_tokens == 512 for r in reqs)


def test_too_short_length_is_an_error(tok):
    with pytest.raises(EvalError, match="more than the context length"):
        make(PasskeySuite, samples=1).requests(tok, 40)


def test_scoring(tok):
    task = make(PasskeySuite, samples=1)
    req = task.requests(tok, 256)[0]
    key = req.references[0]
    assert task.score(req, _gen(f" {key}. Remember it.")).score == 1.0
    assert task.score(req, _gen(f" 9{key}")).score == 0.0
    assert task.score(req, _gen(" no idea")).score == 0.0
    niah = make(NiahSuite, depths=1)
    r = niah.requests(tok, 256)[0]
    assert niah.score(r, _gen(" eat a sandwich and sit in Dolores Park on a sunny day.")).score == 1.0
    assert niah.score(r, _gen(" eat a sandwich.")).score == pytest.approx(2 / 7)
    assert niah.score(r, _gen(" nothing")).score == 0.0


def test_workload_cache_round_trip(tok, tmp_path):
    task = make(NiahSuite, depths=3)
    key = workload.workload_key(task.name, task.version, task.cache_params(), tok.fingerprint, 512)
    built = workload.load_or_build(key, lambda: task.requests(tok, 512), root=tmp_path,
                                   payload_type=task.payload_type)
    loaded = workload.load_or_build(key, lambda: pytest.fail("cache missed"), root=tmp_path,
                                    payload_type=task.payload_type)
    assert [r.key for r in loaded] == [r.key for r in built]
    assert [r.payload for r in loaded] == [r.payload for r in built]
    assert all(np.array_equal(a.prompt_ids, b.prompt_ids) for a, b in zip(built, loaded))
    other = workload.workload_key(task.name, task.version + 1, task.cache_params(), tok.fingerprint, 512)
    assert other != key


def test_chat_template_tokens_are_counted(tiny_model, tmp_path):
    import shutil
    folder = tmp_path / "chat"
    shutil.copytree(tiny_model, folder)
    chat = Tokenizer.load(str(folder))
    chat.hf.chat_template = ("{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}"
                             "{% if add_generation_prompt %} ANSWER:{% endif %}")
    chat.hf.save_pretrained(folder)
    chat = Tokenizer.load(str(folder))
    for task_cls in (PasskeySuite, NiahSuite):
        reqs = make(task_cls, template="chat", samples=2, depths=2).requests(chat, 512)
        for r in reqs:
            assert len(r.prompt_ids) + r.max_new_tokens == 512
            text = chat.decode(r.prompt_ids)
            assert text.startswith("[INST]") and "[/INST] ANSWER:" in text
            assert list(r.prompt_ids[:1]) == chat.bos and list(r.prompt_ids).count(chat.bos[0]) == 1


def test_cache_key_follows_the_haystack_text(tmp_path):
    src = tmp_path / "h.txt"
    src.write_text("One sentence. " * 20)
    task = make(NiahSuite, haystack=str(src))
    before = task.cache_params()
    src.write_text("Another sentence. " * 20)
    assert task.cache_params() != before


def test_niah_takes_a_custom_needle_question_and_answer(tok):
    task = make(NiahSuite, depths=2, needle="The secret ingredient is saffron.", question="What is the secret ingredient?",
                answer="saffron", answer_prefix="The secret ingredient is", max_new_tokens=8)
    for r in task.requests(tok, 512):
        text = tok.decode(r.prompt_ids)
        assert "\nThe secret ingredient is saffron.\n" in text and NEEDLE not in text    # wrapped as gkamradt's
        assert text.endswith("Question: What is the secret ingredient?\nAnswer: The secret ingredient is")
        assert r.references == ("saffron",) and r.max_new_tokens == 8 and len(r.prompt_ids) == 512 - 8
    assert task.score(r, _gen(" saffron, of course")).score == 1.0


def test_a_stop_string_ends_the_answer_and_keys_the_request(tok):
    from evalsuite.types import cut_at_stop
    plain, stopped = make(NiahSuite, depths=1), make(NiahSuite, depths=1, stop="\n")
    a, b = plain.requests(tok, 256)[0], stopped.requests(tok, 256)[0]
    assert list(a.prompt_ids) == list(b.prompt_ids) and b.stop == ("\n",) and a.key != b.key
    assert cut_at_stop(" eat a sandwich\nQuestion: more", b.stop) == " eat a sandwich"
    assert cut_at_stop("no stop here", ("\n", "##")) == "no stop here" and cut_at_stop("a##b\nc", ("\n", "##")) == "a"
