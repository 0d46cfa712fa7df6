"""
Text classification with a convolutional network: TREC question classification.

A question such as "how far is it from denver to aspen ?" is put in one of six
coarse classes (TREC_CLASSES): ABBR (abbreviation), DESC (description),
ENTY (entity), HUM (human), LOC (location) and NUM (numeric value). A 1D
convolution slides over the question's word embeddings, so each of its
filters detects an n-gram ("how far", "stand for", "what year"); with a
stride larger than 1 it looks at fewer windows and skips some of them.

Everything here but TextCNN is provided. The real data are two small files
(the TREC question classification set of Li & Roth, 5,452 training and 500
test questions), read from ``HW_DATA_DIR`` (default ~/.pytorch-datasets) and
downloaded only when you ask for it:

    python -m hw.text download

With ``HW_FAST=1`` (how the autograder runs) the notebooks use instead an
embedded corpus of generated questions in the same six classes, the same on
every machine (embedded_questions).
"""
import argparse
import random
import urllib.request
from collections import Counter
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from hw.data import DatasetMissing, data_dir, fast_mode

TREC_CLASSES = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")

TREC_URL = "https://cogcomp.seas.upenn.edu/Data/QA/QC/"
TREC_FILES = {True: "train_5500.label", False: "TREC_10.label"}  # train: 5,452 questions; test: 500

# -- the real data -----------------------------------------------------------------------


def read_trec(path) -> tuple[list[list[str]], list[int]]:
    """
    Reads one file in the TREC question classification format: one question a
    line, ``COARSE:fine question words ...``, e.g.
    ``DESC:manner How did serfdom develop in and then leave Russia ?``.
    The files are latin-1 (a few questions hold bytes that are not UTF-8).

    Inputs:
    - path: the file.

    Returns a tuple of:
    - token_lists: one list of tokens per question, its words lower-cased and
      split on white space (the files already separate punctuation).
    - labels: the coarse class of each question, an index into TREC_CLASSES.

    Blank lines are skipped; any other line that is not in this format raises
    ValueError, naming the file and the line number.
    """
    token_lists, labels = [], []
    with open(path, encoding="latin-1") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            label, _, question = line.strip().partition(" ")
            coarse, colon, fine = label.partition(":")
            tokens = question.lower().split()
            if coarse not in TREC_CLASSES or not colon or not fine or not tokens:
                raise ValueError(
                    f"{path}, line {lineno}: expected 'COARSE:fine question ...' with COARSE one of "
                    f"{', '.join(TREC_CLASSES)}; got {line.strip()[:80]!r}"
                )
            token_lists.append(tokens)
            labels.append(TREC_CLASSES.index(coarse))
    return token_lists, labels


def trec_path(train: bool = True) -> Path:
    """Where the TREC file of the training (or test) set is expected: HW_DATA_DIR/trec/."""
    return data_dir() / "trec" / TREC_FILES[train]


def trec(train: bool = True) -> tuple[list[list[str]], list[int]]:
    """
    The TREC questions: 5,452 for training or 500 for test, as read_trec
    returns them (token lists, labels). Raises DatasetMissing, saying how to
    get them, when the file is not in HW_DATA_DIR/trec.
    """
    path = trec_path(train)
    if not path.is_file():
        raise DatasetMissing(
            f"The TREC question classification set was not found: {path} does not exist.\n"
            f"- To download it (two files, 360 KB) into {path.parent}, run:  python -m hw.text download\n"
            f"- To keep it elsewhere, set HW_DATA_DIR to the folder that holds its trec/ folder.\n"
            f"- To work without it, set HW_FAST=1 (before starting Jupyter): the notebooks then use "
            f"the generated questions bundled with the homework."
        )
    return read_trec(path)


def download(folder=None) -> Path:
    """Downloads both TREC files into ``folder`` (default HW_DATA_DIR/trec); returns the folder."""
    folder = Path(folder) if folder is not None else trec_path().parent
    folder.mkdir(parents=True, exist_ok=True)
    for name in TREC_FILES.values():
        with urllib.request.urlopen(TREC_URL + name, timeout=60) as response:
            content = response.read()
        # Written under another name first: an interrupted download never leaves a partial file that looks complete.
        partial = folder / (name + ".part")
        partial.write_bytes(content)
        try:
            token_lists, _ = read_trec(partial)  # a page that is not the data (an error page) fails here
        except ValueError:
            partial.unlink()
            raise
        partial.replace(folder / name)
        print(f"{name}: {len(token_lists)} questions in {folder}")
    return folder


# -- the embedded corpus -----------------------------------------------------------------
# Generated questions in the six classes. What decides the class is mostly an n-gram near the start
# ("what year", "which famous city", "stand for", "how many"), and the nouns that decide it in one question appear
# in the others as plain words ("the famous city" in a question about a person): a bag of words is not enough,
# word order is. A filler of random length in front ("tell me ,") moves the deciding n-gram to any offset, so a
# convolution with a stride larger than 1 sees it whole in only some of the questions.

PERSONS = ["person", "man", "woman", "king", "queen", "actor", "author", "singer", "president", "scientist",
           "explorer", "painter", "poet", "general", "pilot", "inventor"]  # fmt: skip
PLACES = ["city", "country", "state", "river", "island", "mountain", "lake", "ocean", "continent", "town",
          "desert", "port"]  # fmt: skip
THINGS = ["animal", "bird", "fish", "color", "food", "sport", "game", "instrument", "language", "disease", "drug",
          "book", "movie", "car", "plant", "metal", "ship", "song"]  # fmt: skip
TIMES = ["year", "date", "century", "decade", "month", "day"]
QUANTITIES = ["population", "age", "height", "length", "weight", "speed", "size", "temperature"]
DESCRIPTIONS = ["meaning", "origin", "definition", "purpose", "history", "cause", "significance"]
ADJECTIVES = ["famous", "first", "largest", "oldest", "biggest", "richest", "last", "greatest", "smallest",
              "youngest", "best", "popular", "new", "old"]  # fmt: skip

PERSON_NAMES = ["lincoln", "shakespeare", "einstein", "napoleon", "cleopatra", "elvis", "columbus", "gandhi",
                "newton", "darwin", "picasso", "mozart", "edison", "caesar"]  # fmt: skip
PLACE_NAMES = ["paris", "china", "texas", "egypt", "japan", "brazil", "london", "canada", "mexico", "india",
               "africa", "rome", "alaska", "peru"]  # fmt: skip
THING_NAMES = ["the telephone", "the piano", "penicillin", "the bicycle", "chess", "jazz", "the internet",
               "baseball", "the titanic", "the eiffel tower", "the bible", "aspirin", "the olympics",
               "the printing press"]  # fmt: skip
ACRONYMS = ["nasa", "fbi", "dna", "ibm", "nato", "unesco", "laser", "radar", "aids", "cia", "bbc", "ufo", "cpr",
            "awol", "scuba", "nba"]  # fmt: skip
PLURALS = ["people", "animals", "languages", "cities", "islands", "states", "books", "songs", "players", "ships",
           "kings", "rivers"]  # fmt: skip

# (past, past participle, infinitive)
VERBS = [("invented", "invented", "invent"), ("discovered", "discovered", "discover"), ("founded", "founded", "found"),
         ("built", "built", "build"), ("wrote", "written", "write"), ("painted", "painted", "paint"),
         ("named", "named", "name"), ("visited", "visited", "visit"), ("ruled", "ruled", "rule"),
         ("destroyed", "destroyed", "destroy"), ("won", "won", "win"), ("explored", "explored", "explore"),
         ("designed", "designed", "design"), ("sold", "sold", "sell"), ("described", "described", "describe"),
         ("made", "made", "make")]  # fmt: skip

# Label-independent openings (the empty ones: about a third of the questions start with the question itself).
FILLERS = ["", "", "", "", "", "", "so ,", "tell me ,", "quick question :", "i wonder ,", "do you know ,",
           "please tell me ,", "hey ,", "out of curiosity ,", "one more :", "i would like to know ,",
           "can you tell me ,", "my teacher asked :", "trivia :", "here is one :"]  # fmt: skip


def _noun_phrase(rng: random.Random, clause: bool = True) -> str:
    """
    A subject or object of any kind: a name, an acronym, "the [adjective] head" with a head of any class, or
    (when ``clause``) such a head with a relative clause, whose "who", "where" and "when" say nothing of the class.
    """
    kind = rng.random()
    if kind < 0.35:
        return rng.choice(PERSON_NAMES + PLACE_NAMES + THING_NAMES + ACRONYMS)
    if kind < 0.5:
        return f"the {rng.choice(PERSONS + PLACES + THINGS)}"
    if kind < 0.7:
        return f"the {rng.choice(ADJECTIVES)} {rng.choice(PERSONS + PLACES + THINGS)}"
    if kind < 0.75 or not clause:
        return f"the {rng.choice(PERSONS + PLACES + THINGS)} of {rng.choice(PLACE_NAMES)}"
    past, participle, _ = _verb(rng)
    inner = _noun_phrase(rng, clause=False)
    return rng.choice([
        f"the {rng.choice(PERSONS)} who {past} {inner}",
        f"the {rng.choice(PLACES)} where {inner} was {participle}",
        f"the {rng.choice(THINGS)} that {inner} {past}",
        f"the {rng.choice(TIMES)} when {inner} was {participle}",
    ])  # fmt: skip


def _which_head(rng: random.Random, heads: list[str]) -> str:
    """'what city', 'which famous city', 'which of the cities' style openings: the head decides the class."""
    wh = rng.choice(["what", "which"])
    return f"{wh} {rng.choice(heads)}" if rng.random() < 0.4 else f"{wh} {rng.choice(ADJECTIVES)} {rng.choice(heads)}"


def _verb(rng: random.Random) -> tuple[str, str, str]:
    return rng.choice(VERBS)


def _abbr(rng: random.Random) -> str:
    acronym, np = rng.choice(ACRONYMS), _noun_phrase(rng)
    return rng.choice([
        f"what does {acronym} stand for ?",
        f"what is {acronym} short for ?",
        f"what is the full form of {acronym} ?",
        f"{acronym} is an abbreviation of what ?",
        f"what is the {rng.choice(['abbreviation', 'acronym'])} for {np} ?",
        f"what do the letters {acronym} stand for ?",
    ])  # fmt: skip


def _desc(rng: random.Random) -> str:
    (_, _, verb), np, other = _verb(rng), _noun_phrase(rng), _noun_phrase(rng)
    return rng.choice([
        f"why did {np} {verb} {other} ?",
        f"how did {np} {verb} {other} ?",
        f"what is the {rng.choice(DESCRIPTIONS)} of {np} ?",
        f"what does {np} mean ?",
        f"what is {np} ?",
        f"how does {np} work ?",
        f"what does it mean to {verb} {np} ?",
    ])  # fmt: skip


def _enty(rng: random.Random) -> str:
    (past, _, verb), np = _verb(rng), _noun_phrase(rng)
    thing = rng.choice(THINGS)
    return rng.choice([
        f"{_which_head(rng, THINGS)} did {np} {verb} ?",
        f"{_which_head(rng, THINGS)} {past} {np} ?",
        f"what kind of {thing} is {np} ?",
        f"name a {thing} that {np} {past} .",
        f"what is the national {thing} of {rng.choice(PLACE_NAMES)} ?",
        f"what {thing} is used to {verb} {np} ?",
    ])  # fmt: skip


def _hum(rng: random.Random) -> str:
    (past, _, verb), np = _verb(rng), _noun_phrase(rng)
    person = rng.choice(PERSONS)
    return rng.choice([
        f"who {past} {np} ?",
        f"{_which_head(rng, PERSONS)} did {np} {verb} ?",
        f"{_which_head(rng, PERSONS)} {past} {np} ?",
        f"who was the first {person} to {verb} {np} ?",
        f"name the {person} who {past} {np} .",
        f"what is the name of the {person} who {past} {np} ?",
    ])  # fmt: skip


def _loc(rng: random.Random) -> str:
    (past, participle, verb), np = _verb(rng), _noun_phrase(rng)
    place = rng.choice(PLACES)
    return rng.choice([
        f"where is {np} ?",
        f"where was {np} {participle} ?",
        f"{_which_head(rng, PLACES)} did {np} {verb} ?",
        f"{_which_head(rng, PLACES)} {past} {np} ?",
        f"in what {place} was {np} {participle} ?",
        f"what is the capital of {rng.choice(PLACE_NAMES)} ?",
        f"name a {place} that {np} {past} .",
    ])  # fmt: skip


def _num(rng: random.Random) -> str:
    (_, participle, verb), np = _verb(rng), _noun_phrase(rng)
    time = rng.choice(TIMES)
    return rng.choice([
        f"when was {np} {participle} ?",
        f"what {time} did {np} {verb} {_noun_phrase(rng)} ?",
        f"in what {time} was {np} {participle} ?",
        f"how many {rng.choice(PLURALS)} did {np} {verb} ?",
        f"how {rng.choice(['long', 'far', 'old', 'tall', 'big', 'much'])} is {np} ?",
        f"what is the {rng.choice(QUANTITIES)} of {np} ?",
        f"how much did {np} cost ?",
    ])  # fmt: skip


_GENERATORS = (_abbr, _desc, _enty, _hum, _loc, _num)  # in the order of TREC_CLASSES


def embedded_questions(num_samples: int, seed: int) -> tuple[list[list[str]], list[int]]:
    """
    Generates ``num_samples`` English-like questions in the six TREC classes,
    from templates and word lists, e.g. "tell me , which famous city did the
    old king visit ?" (LOC). The same seed gives the same questions on every
    machine (Python's random.Random, nothing else).

    Returns (token_lists, labels) as read_trec does: lower-case tokens, and
    labels that index TREC_CLASSES, drawn uniformly.
    """
    rng = random.Random(seed)
    token_lists, labels = [], []
    for _ in range(num_samples):
        label = rng.randrange(len(TREC_CLASSES))
        question = f"{rng.choice(FILLERS)} {_GENERATORS[label](rng)}"
        token_lists.append(question.split())
        labels.append(label)
    return token_lists, labels


# -- vocabulary and batches --------------------------------------------------------------

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1


class Vocabulary:
    """
    Maps tokens to integer ids: 0 is PAD ("<pad>"), 1 is UNK ("<unk>", every
    token not in the vocabulary), then the tokens seen at least ``min_count``
    times, by decreasing count, ties in alphabetical order, so that the same
    questions always give the same ids.

    Inputs:
    - token_lists: the questions to build it from (lists of tokens), the training set only.
    - min_count: a token seen fewer times than this becomes UNK.

    Attributes:
    - tokens: the token of each id (tokens[0] == PAD, tokens[1] == UNK).
    - ids: the id of each token, a dict.
    """

    def __init__(self, token_lists, min_count: int = 1):
        counts = Counter(token for tokens in token_lists for token in tokens if token not in (PAD, UNK))
        kept = sorted((token for token, count in counts.items() if count >= min_count), key=lambda t: (-counts[t], t))
        self.tokens = [PAD, UNK, *kept]
        self.ids = {token: i for i, token in enumerate(self.tokens)}

    def __len__(self):
        return len(self.tokens)

    def encode(self, tokens) -> list[int]:
        """The id of each token (UNK_ID for a token not in the vocabulary)."""
        return [self.ids.get(token, UNK_ID) for token in tokens]

    def decode(self, ids) -> list[str]:
        """The token of each id (a list, or a 1D tensor)."""
        return [self.tokens[int(i)] for i in ids]


class QuestionDataset(Dataset):
    """
    Questions encoded with a vocabulary: item i is ``(ids, label)``, ids an
    int64 tensor (T,) of the T token ids of question i, label an int.
    Questions have different lengths: batch them with ``collate_fn=pad_batch``.

    Attributes: questions (the token lists), targets (the labels) and
    classes (TREC_CLASSES).
    """

    def __init__(self, token_lists, labels, vocab: Vocabulary):
        if len(token_lists) != len(labels):
            raise ValueError(f"{len(token_lists)} questions but {len(labels)} labels")
        self.questions = [list(tokens) for tokens in token_lists]
        self.targets = [int(label) for label in labels]
        self.classes = list(TREC_CLASSES)
        self.vocab = vocab
        self._ids = [torch.tensor(vocab.encode(tokens), dtype=torch.int64) for tokens in self.questions]

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        return self._ids[index], self.targets[index]


def pad_batch(batch, min_length: int = 1):
    """
    Collates questions of different lengths into one batch (a DataLoader's
    collate_fn; for another min_length, functools.partial(pad_batch, min_length=k)).

    Inputs:
    - batch: a list of N items (ids, label) of a QuestionDataset, ids of shape (T_i,).
    - min_length: the least length of the batch.

    Returns a tuple of:
    - tokens: int64 tensor (N, T), T = max(max_i T_i, min_length): question i
      in row i, followed by PAD_ID (0) up to T.
    - labels: int64 tensor (N,).
    """
    length = max([len(ids) for ids, _ in batch] + [min_length])
    tokens = torch.full((len(batch), length), PAD_ID, dtype=torch.int64)
    for i, (ids, _) in enumerate(batch):
        tokens[i, : len(ids)] = torch.as_tensor(ids, dtype=torch.int64)
    labels = torch.tensor([int(label) for _, label in batch], dtype=torch.int64)
    return tokens, labels


def text_classification(num_train: int | None = None, num_test: int | None = None):
    """
    The (train_set, test_set, vocab) of the experiment: QuestionDatasets of the
    real TREC questions, or with HW_FAST=1 of the embedded questions (2,000
    for training, 500 for test, each set from its own seed). The vocabulary is
    built on the training questions only: a word seen only in test questions is UNK.

    Inputs:
    - num_train, num_test: keep only the first so many questions of each set (None: all).
    """
    if fast_mode():
        train = embedded_questions(num_train or 2000, seed=2024)
        test = embedded_questions(num_test or 500, seed=2025)
    else:
        train, test = trec(train=True), trec(train=False)
    train = [part[:num_train] for part in train]
    test = [part[:num_test] for part in test]
    vocab = Vocabulary(train[0])
    return QuestionDataset(*train, vocab), QuestionDataset(*test, vocab), vocab


# -- the model ---------------------------------------------------------------------------


class TextCNN(nn.Module):
    """
    A convolutional text classifier (Kim, 2014, with one kernel size):

        EMBED -> CONV1D -> RELU -> MAX OVER TIME -> FC

    Shapes, for a batch of N questions of T tokens, E = embed_dim and F = num_filters:
    tokens (N, T) -embed-> (N, T, E), transposed to channels first (N, E, T)
    -conv-> (N, F, T') with T' = floor((T - kernel_size) / stride) + 1
    -relu, max over the last dimension-> (N, F) -fc-> scores (N, num_classes).

    Each filter is a detector of one kind of kernel_size-gram; the max over time
    keeps its strongest match anywhere in the question. A stride s > 1 only
    looks at the windows that start at positions 0, s, 2s, ...

    A question shorter than the kernel (T < kernel_size) has no window: its
    tokens are first padded on the right with padding_idx up to kernel_size
    tokens, so T' = 1. Padding tokens are embedded as zero vectors (and stay
    zero in training: nn.Embedding's padding_idx).

    Inputs:
    - vocab_size: number of token ids (len(vocab)).
    - embed_dim: E, the size of a word embedding.
    - num_filters: F, the number of convolution filters (output channels).
    - kernel_size: the number of consecutive tokens a filter looks at.
    - stride: the step between two windows of the convolution.
    - num_classes: number of classes.
    - padding_idx: the id of the padding token (PAD_ID).

    Attributes (their names are the keys of the state dict):
    - embedding: nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx).
    - conv: nn.Conv1d(embed_dim, num_filters, kernel_size, stride=stride).
    - fc: nn.Linear(num_filters, num_classes).
    """

    def __init__(self, vocab_size, embed_dim, num_filters, kernel_size, stride=1, num_classes=len(TREC_CLASSES),
                 padding_idx=PAD_ID):  # fmt: skip
        super().__init__()
        self.kernel_size, self.stride, self.padding_idx = kernel_size, stride, padding_idx
        # TODO: Create the three layers of the docstring's Attributes, with these
        #  exact names and arguments: self.embedding (nn.Embedding, with
        #  padding_idx=padding_idx), self.conv (nn.Conv1d, with stride=stride)
        #  and self.fc (nn.Linear).
        ### BEGIN SOLUTION
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        self.conv = nn.Conv1d(embed_dim, num_filters, kernel_size, stride=stride)
        self.fc = nn.Linear(num_filters, num_classes)
        ### END SOLUTION

    def forward(self, tokens):
        """
        Inputs:
        - tokens: int64 token ids of shape (N, T), padded with padding_idx.

        Returns:
        - scores: class scores of shape (N, num_classes).
        """
        # TODO: Compute the class scores as the class docstring says:
        #  - if T < self.kernel_size, pad tokens on the right with
        #    self.padding_idx up to self.kernel_size tokens (F.pad, F being
        #    torch.nn.functional);
        #  - embed them, (N, T, E), and transpose to (N, E, T): Conv1d takes
        #    the channels (here the embedding) in dimension 1;
        #  - convolve, (N, F, T'), apply ReLU and take the max over the last
        #    dimension, (N, F);
        #  - apply self.fc, (N, num_classes).
        ### BEGIN SOLUTION
        if tokens.shape[1] < self.kernel_size:
            tokens = F.pad(tokens, (0, self.kernel_size - tokens.shape[1]), value=self.padding_idx)
        embedded = self.embedding(tokens).transpose(1, 2)
        features = torch.relu(self.conv(embedded)).amax(dim=2)
        scores = self.fc(features)
        ### END SOLUTION
        return scores


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hw.text", description="Downloads the TREC questions.")
    parser.add_argument("command", choices=["download"], help="download both TREC files into HW_DATA_DIR/trec")
    parser.parse_args(argv)
    download()


if __name__ == "__main__":
    main()
