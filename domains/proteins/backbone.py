"""Protein backbones in and out: PDB / mmCIF (plain or ``.gz``) -> :class:`Backbone` -> PDB / mmCIF.

A :class:`Backbone` is one chain's N, CA, C, O coordinates ``(L, 4, 3)`` (Å, float32) with its
one-letter sequence, chain id, residue numbers and insertion codes. Reading (Biopython):

* chain: the one asked for, else the first chain holding a protein residue;
* altlocs: the highest-occupancy alternative of every atom (Biopython's choice), and of a
  residue with alternative identities (point micro-heterogeneity) the one whose CA is most occupied;
* residues: the 20 standard ones plus common modified ones mapped to their parent (``MODIFIED``:
  MSE -> M, SEP -> S, ...); ligands, water and caps (ACE, NH2) are ignored. Atoms are identified
  by name, never by the element column;
* ``on_missing``: a residue lacking N, CA, C or O is ``"drop"``-ped (noted in ``missing``),
  ``"raise"``-s, or is kept with NaN for the absent atoms (``"nan"``; a CA is always required);
* ``on_break``: a gap CA(i)-CA(i+1) > 4.2 Å is ``"keep"``-t (listed in ``breaks``), ``"split"``
  into segments, ``"drop"``-s the chain, or ``"raise"``-s.

Anything unreadable raises ``ValueError("<file>: line <n> ...: <reason>")``.
Writers emit fixed-column PDB (3 decimals, so a round trip is exact to 5e-4 Å) with one MODEL per
backbone for trajectories, full backbone or CA-only, and mmCIF through biotite.
"""
from __future__ import annotations

import gzip
import io
import re
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

ATOMS = ("N", "CA", "C", "O")
MAX_CA_GAP = 4.2          # Å; consecutive CA further apart than this is a chain break

THREE_TO_ONE = {
    "ALA": "A", "ARG": "R", "ASN": "N", "ASP": "D", "CYS": "C", "GLN": "Q", "GLU": "E", "GLY": "G",
    "HIS": "H", "ILE": "I", "LEU": "L", "LYS": "K", "MET": "M", "PHE": "F", "PRO": "P", "SER": "S",
    "THR": "T", "TRP": "W", "TYR": "Y", "VAL": "V",
}
ONE_TO_THREE = {v: k for k, v in THREE_TO_ONE.items()} | {"X": "UNK"}

# common modified residues -> parent (PDB chemical component "mon_nstd_parent_comp_id")
MODIFIED = {
    "MSE": "MET", "FME": "MET", "SEP": "SER", "TPO": "THR", "PTR": "TYR", "TYS": "TYR",
    "MLY": "LYS", "M3L": "LYS", "MLZ": "LYS", "ALY": "LYS", "KCX": "LYS", "LLP": "LYS",
    "HYP": "PRO", "CSO": "CYS", "CSD": "CYS", "CME": "CYS", "CSS": "CYS", "OCS": "CYS",
    "CAS": "CYS", "SEC": "CYS", "PCA": "GLN", "MLE": "LEU", "NLE": "LEU", "HIC": "HIS",
    "NEP": "HIS", "DAL": "ALA", "AIB": "ALA", "ABA": "ALA", "CGU": "GLU", "PYL": "LYS",
    "ASX": "ASN", "GLX": "GLN", "UNK": "UNK",
}


def one_letter(resname: str) -> str | None:
    """One-letter code of a residue name, ``"X"`` for UNK, None for a non-amino-acid."""
    name = MODIFIED.get(resname.strip().upper(), resname.strip().upper())
    return "X" if name == "UNK" else THREE_TO_ONE.get(name)


@dataclass(eq=False)
class Backbone:
    """One chain's backbone. ``coords[:, k]`` is atom ``ATOMS[k]`` (N, CA, C, O); NaN marks an
    absent atom (CA-only structures, ``on_missing="nan"``)."""

    coords: np.ndarray                        # (L, 4, 3) float32, Å
    sequence: str = ""                        # one-letter, X = unknown; "" -> poly-Ala
    chain_id: str = "A"
    res_num: np.ndarray | None = None         # (L,) int, default 1..L
    ins_code: np.ndarray | None = None        # (L,) str, "" = none
    name: str = ""                            # where it came from ("file:chain")
    breaks: tuple[int, ...] = field(default=None)  # i with |CA(i+1) - CA(i)| > 4.2 Å
    missing: tuple[str, ...] = ()             # residues dropped or incomplete, with the reason

    def __post_init__(self):
        c = np.asarray(self.coords, dtype=np.float32)
        if c.ndim == 2 and c.shape[-1] == 3:          # CA only
            full = np.full((len(c), 4, 3), np.nan, dtype=np.float32)
            full[:, 1] = c
            c = full
        if c.ndim != 3 or c.shape[1:] != (4, 3):
            raise ValueError(f"backbone coordinates must be (L, 4, 3) (N, CA, C, O) or (L, 3) CA, got {c.shape}")
        self.coords = c
        n = len(c)
        self.sequence = self.sequence or "A" * n
        if len(self.sequence) != n:
            raise ValueError(f"sequence has {len(self.sequence)} residues, coordinates {n}")
        self.res_num = np.arange(1, n + 1) if self.res_num is None else np.asarray(self.res_num, dtype=np.int64)
        self.ins_code = np.full(n, "", dtype="<U1") if self.ins_code is None else np.asarray(self.ins_code, dtype="<U1")
        if len(self.res_num) != n or len(self.ins_code) != n:
            raise ValueError("res_num and ins_code need one entry per residue")
        if self.breaks is None:
            self.breaks = find_breaks(c[:, 1])

    def __len__(self) -> int:
        return len(self.coords)

    def __repr__(self) -> str:
        return (f"Backbone({self.name or self.chain_id!r}, L={len(self)}, breaks={list(self.breaks)}, "
                f"full={self.is_complete})")

    @property
    def ca(self) -> np.ndarray:
        return self.coords[:, 1]

    @property
    def is_complete(self) -> bool:
        """Every residue has all four backbone atoms."""
        return bool(np.isfinite(self.coords).all())

    def __getitem__(self, idx) -> "Backbone":
        """Residues ``idx`` (a slice or index array) as a new Backbone (breaks recomputed)."""
        idx = np.arange(len(self))[idx]
        return replace(self, coords=self.coords[idx], sequence="".join(self.sequence[i] for i in idx),
                       res_num=self.res_num[idx], ins_code=self.ins_code[idx], breaks=None)

    def split(self) -> list["Backbone"]:
        """The continuous segments between breaks."""
        edges = [0, *(b + 1 for b in self.breaks), len(self)]
        return [self[a:b] for a, b in zip(edges[:-1], edges[1:])]

    def centred(self) -> "Backbone":
        """Translated so that the CA centroid is at the origin."""
        return replace(self, coords=self.coords - np.nanmean(self.ca, 0), breaks=self.breaks)

    def residue_labels(self) -> list[str]:
        """``"A 12B MET"``-style labels."""
        return [f"{self.chain_id} {n}{i} {ONE_TO_THREE.get(s, 'UNK')}"
                for n, i, s in zip(self.res_num, self.ins_code, self.sequence)]


def find_breaks(ca: np.ndarray, max_gap: float = MAX_CA_GAP) -> tuple[int, ...]:
    """Indices i where consecutive CAs are more than ``max_gap`` Å apart (NaN CA counts as a gap)."""
    if len(ca) < 2:
        return ()
    d = np.linalg.norm(np.diff(np.asarray(ca, dtype=np.float64), axis=0), axis=-1)
    return tuple(int(i) for i in np.nonzero(~(d <= max_gap))[0])


# ---------------------------------------------------------------------------- reading


def _is_cif(path: Path, text: str) -> bool:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    if suffixes and suffixes[-1] in (".cif", ".mmcif"):
        return True
    if suffixes and suffixes[-1] in (".pdb", ".ent"):
        return False
    return text.lstrip().startswith("data_")


def _read_text(path: Path) -> str:
    try:
        if path.suffix.lower() == ".gz":
            with gzip.open(path, "rt", errors="replace") as f:
                return f.read()
        return path.read_text(errors="replace")
    except (OSError, EOFError) as e:
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file") from e
        raise ValueError(f"{path}: cannot read ({e})") from e


def _check_pdb_lines(path: Path, text: str) -> None:
    """Biopython reads fixed columns leniently; name the line and the field it cannot parse."""
    for k, line in enumerate(text.splitlines(), 1):
        if not line.startswith(("ATOM  ", "HETATM")):
            continue
        if len(line) < 54:
            raise ValueError(f"{path}: line {k}: truncated {line[:6].strip()} record ({len(line)} characters, "
                             f"coordinates need 54): {line!r}")
        for lo, hi, what in ((30, 38, "x"), (38, 46, "y"), (46, 54, "z")):
            try:
                v = float(line[lo:hi])
            except ValueError:
                raise ValueError(f"{path}: line {k}: non-numeric {what} coordinate {line[lo:hi].strip()!r} "
                                 f"(columns {lo + 1}-{hi}): {line!r}") from None
            if not np.isfinite(v):
                raise ValueError(f"{path}: line {k}: {what} coordinate is {v}: {line!r}")
        try:
            int(line[22:26])
        except ValueError:
            raise ValueError(f"{path}: line {k}: residue number {line[22:26]!r} is not an integer: {line!r}") from None


def _parse(path: Path):
    from Bio.PDB import MMCIFParser, PDBParser
    from Bio.PDB.PDBExceptions import PDBConstructionException

    text = _read_text(path)
    cif = _is_cif(path, text)
    if not cif:
        _check_pdb_lines(path, text)
    parser = MMCIFParser(QUIET=True) if cif else PDBParser(PERMISSIVE=True, QUIET=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return parser.get_structure(path.stem, io.StringIO(text))
    except (PDBConstructionException, ValueError, KeyError, IndexError, TypeError) as e:
        reason = str(e) or type(e).__name__
        if isinstance(e, KeyError):
            reason = f"missing mmCIF field {e}"
        raise ValueError(f"{path}: {reason}") from None


def _residue(res):
    """The representative of a (possibly disordered) residue: the child with the most occupied CA."""
    if res.is_disordered() == 2:
        kids = list(res.child_dict.values())
        occ = [k["CA"].get_occupancy() or 0.0 if "CA" in k else -1.0 for k in kids]
        return kids[int(np.argmax(occ))]
    return res


def _protein_residues(chain) -> list:
    out = []
    for res in chain:
        res = _residue(res)
        if res.id[0] == "W" or one_letter(res.get_resname()) is None:
            continue
        out.append(res)
    return out


def _chain_backbone(path: Path, chain, on_missing: str) -> Backbone:
    coords, seq, nums, icodes, missing = [], [], [], [], []
    for res in _protein_residues(chain):
        label = f"{chain.id} {res.id[1]}{res.id[2].strip()} {res.get_resname()}"
        absent = [a for a in ATOMS if a not in res]
        xyz = np.full((4, 3), np.nan, dtype=np.float32)
        for k, a in enumerate(ATOMS):
            if a in res:
                xyz[k] = res[a].get_coord()
        if absent:
            if on_missing == "raise":
                raise ValueError(f"{path}: residue {label}: missing backbone atom(s) {', '.join(absent)}")
            missing.append(f"{label}: no {', '.join(absent)}")
            if on_missing == "drop" or "CA" in absent:
                continue
        coords.append(xyz)
        seq.append(one_letter(res.get_resname()))
        nums.append(res.id[1])
        icodes.append(res.id[2].strip())
    return Backbone(np.asarray(coords, dtype=np.float32).reshape(-1, 4, 3), "".join(seq), chain.id,
                    np.asarray(nums, dtype=np.int64), np.asarray(icodes, dtype="<U1"),
                    name=f"{path.name}:{chain.id}", missing=tuple(missing))


ON_BREAK = ("keep", "split", "drop", "raise")
ON_MISSING = ("drop", "raise", "nan")


def read_backbones(path, chain: str | None = None, *, on_break: str = "split", on_missing: str = "drop",
                   all_chains: bool = False, all_models: bool = False) -> list[Backbone]:
    """Backbones of one structure file (PDB or mmCIF, optionally gzipped).

    ``chain``: a chain id, else the first chain with a protein residue (``all_chains``: every
    such chain). ``all_models``: every MODEL (a trajectory), else the first. ``on_break``:
    ``"split"`` returns the continuous segments, ``"drop"`` leaves out a chain with a break,
    ``"keep"`` returns it whole (``Backbone.breaks`` lists the gaps), ``"raise"`` raises.
    ``on_missing``: see the module docstring.
    """
    path = Path(path)
    if on_break not in ON_BREAK:
        raise ValueError(f"on_break must be one of {ON_BREAK}, got {on_break!r}")
    if on_missing not in ON_MISSING:
        raise ValueError(f"on_missing must be one of {ON_MISSING}, got {on_missing!r}")
    structure = _parse(path)
    models = list(structure) if all_models else list(structure)[:1]
    if not models:
        raise ValueError(f"{path}: no atoms (empty or not a PDB/mmCIF file)")
    out = []
    for model in models:
        chains = [c for c in model if _protein_residues(c)]
        if chain is not None:
            chains = [c for c in model if c.id == chain]
            if not chains or not _protein_residues(chains[0]):
                raise ValueError(f"{path}: {'no' if not chains else 'no protein residue in'} chain {chain!r}; "
                                 f"chains with protein: {[c.id for c in model if _protein_residues(c)]}")
        elif not chains:
            raise ValueError(f"{path}: no protein chain (no residue with a standard or known modified amino acid)")
        for c in chains if all_chains else chains[:1]:
            bb = _chain_backbone(path, c, on_missing)
            if len(bb) == 0:
                raise ValueError(f"{path}: chain {c.id!r} has no residue with a complete backbone "
                                 f"({len(bb.missing)} incomplete)")
            if bb.breaks:
                lab = bb.residue_labels()
                gaps = np.linalg.norm(bb.ca[[i + 1 for i in bb.breaks]] - bb.ca[list(bb.breaks)], axis=-1)
                where = "; ".join(f"between {lab[i]} and {lab[i + 1]} ({g:.1f} Å)" for i, g in zip(bb.breaks[:5], gaps))
                if on_break == "raise":
                    raise ValueError(f"{path}: chain {c.id!r} has {len(bb.breaks)} break(s) "
                                     f"(CA-CA > {MAX_CA_GAP} Å): {where}")
                if on_break == "drop":
                    continue
                if on_break == "split":
                    out.extend(bb.split())
                    continue
            out.append(bb)
    return out


def read_backbone(path, chain: str | None = None, *, on_break: str = "keep", on_missing: str = "drop") -> Backbone:
    """One chain (the first model). ``on_break``: ``"keep"`` (listed in ``breaks``) or ``"raise"``."""
    if on_break not in ("keep", "raise"):
        raise ValueError(f"read_backbone returns one chain: on_break must be 'keep' or 'raise' "
                         f"(use read_backbones for {on_break!r})")
    return read_backbones(path, chain, on_break=on_break, on_missing=on_missing)[0]


STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif")


def is_structure_file(path: Path) -> bool:
    name = path.name.lower().removesuffix(".gz")
    return path.is_file() and (name.endswith(STRUCTURE_SUFFIXES) or re.search(r"\.pdb\d*$", name) is not None)


def structure_files(root) -> list[Path]:
    """Structure files under ``root`` (recursive, sorted by relative path), or the files listed in a
    ``.txt`` file (one path a line, relative to the list), or ``root`` itself if it is one."""
    root = Path(root)
    if root.is_file() and root.suffix == ".txt":
        lines = [s.strip() for s in root.read_text().splitlines()]
        return [p if p.is_absolute() else root.parent / p for p in map(Path, lines) if str(p) and not str(p).startswith("#")]
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such file or directory")
    return sorted((p for p in root.rglob("*") if is_structure_file(p)), key=lambda p: p.relative_to(root).as_posix())


# ---------------------------------------------------------------------------- writing


def _as_backbones(backbones) -> list[Backbone]:
    """A Backbone, a list of them, or arrays: (L, 4, 3) / (L, 3) one chain, (T, L, 4, 3) / (T, L, 3) several."""
    if isinstance(backbones, Backbone):
        return [backbones]
    if isinstance(backbones, np.ndarray) or hasattr(backbones, "detach"):
        arr = np.asarray(backbones.detach().cpu() if hasattr(backbones, "detach") else backbones, dtype=np.float32)
        single = arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-2:] == (4, 3))
        return [Backbone(arr)] if single else [Backbone(a) for a in arr]
    return [b if isinstance(b, Backbone) else Backbone(np.asarray(b)) for b in backbones]


def _open_out(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    return gzip.open(path, "wt") if path.suffix == ".gz" else open(path, "w")


def pdb_string(backbones, ca_only: bool = False) -> str:
    """PDB text; one MODEL per backbone when there are several."""
    bbs = _as_backbones(backbones)
    lines, serial = [], 0
    atoms = (1,) if ca_only else range(4)
    for m, bb in enumerate(bbs, 1):
        if len(bbs) > 1:
            lines.append(f"MODEL     {m:4d}")
        serial = 0
        for i in range(len(bb)):
            resname = ONE_TO_THREE.get(bb.sequence[i], "UNK")
            if not -999 <= bb.res_num[i] <= 9999:
                raise ValueError(f"residue number {bb.res_num[i]} does not fit the PDB format (use mmCIF)")
            for k in atoms:
                x = bb.coords[i, k]
                if not np.isfinite(x).all():
                    continue
                if np.abs(x).max() >= 9999.9995 or x.min() <= -999.9995:
                    raise ValueError(f"{bb.name or 'backbone'} residue {i}: coordinate {x.tolist()} does not fit "
                                     "the PDB format (use mmCIF)")
                serial += 1
                name = ATOMS[k]
                lines.append(f"ATOM  {serial % 100000:5d} {name:^4s} {resname:3s} {bb.chain_id[:1] or 'A':1s}"
                             f"{int(bb.res_num[i]):4d}{bb.ins_code[i] or ' ':1s}   {x[0]:8.3f}{x[1]:8.3f}{x[2]:8.3f}"
                             f"{1.0:6.2f}{0.0:6.2f}          {name[0]:>2s}  ")
        last = len(bb) - 1
        if len(bb):
            lines.append(f"TER   {(serial + 1) % 100000:5d}      {ONE_TO_THREE.get(bb.sequence[last], 'UNK'):3s} "
                         f"{bb.chain_id[:1] or 'A':1s}{int(bb.res_num[last]):4d}{bb.ins_code[last] or ' ':1s}")
        if len(bbs) > 1:
            lines.append("ENDMDL")
    lines.append("END")
    return "\n".join(lines) + "\n"


def write_pdb(path, backbones, ca_only: bool = False) -> Path:
    """Write one backbone, or several as MODELs (a trajectory / a sample set); ``.gz`` compresses.
    Also accepts coordinate arrays ``(L, 4, 3)``, ``(L, 3)`` (CA) or stacks of them."""
    path = Path(path)
    with _open_out(path) as f:
        f.write(pdb_string(backbones, ca_only))
    return path


def to_atom_array(bb: Backbone, ca_only: bool = False):
    """biotite ``AtomArray`` of the present atoms (element, occupancy 1, B 0)."""
    import biotite.structure as struc

    atoms = (1,) if ca_only else range(4)
    keep = [(i, k) for i in range(len(bb)) for k in atoms if np.isfinite(bb.coords[i, k]).all()]
    arr = struc.AtomArray(len(keep))
    if not keep:
        return arr
    ii, kk = np.array(keep).T
    arr.coord = bb.coords[ii, kk]
    arr.chain_id = np.full(len(keep), bb.chain_id or "A")
    arr.res_id = bb.res_num[ii]
    arr.ins_code = bb.ins_code[ii]
    arr.res_name = np.array([ONE_TO_THREE.get(bb.sequence[i], "UNK") for i in ii])
    arr.atom_name = np.array([ATOMS[k] for k in kk])
    arr.element = np.array([ATOMS[k][0] for k in kk])
    arr.hetero = np.zeros(len(keep), bool)
    arr.set_annotation("occupancy", np.ones(len(keep), np.float32))
    arr.set_annotation("b_factor", np.zeros(len(keep), np.float32))
    return arr


def write_cif(path, backbones, ca_only: bool = False) -> Path:
    """mmCIF through biotite; several backbones of equal atom layout become models."""
    import biotite.structure as struc
    from biotite.structure.io import pdbx

    bbs = _as_backbones(backbones)
    arrays = [to_atom_array(b, ca_only) for b in bbs]
    if len(arrays) > 1:
        if any(len(a) != len(arrays[0]) or not a.equal_annotations(arrays[0]) for a in arrays):
            raise ValueError("mmCIF models must have the same residues and atoms; write different backbones to "
                             "separate files (or to PDB, whose MODELs may differ)")
        atoms = struc.stack(arrays)
    else:
        atoms = arrays[0]
    f = pdbx.CIFFile()
    pdbx.set_structure(f, atoms)
    path = Path(path)
    with _open_out(path) as out:
        f.write(out)
    return path


def write_structure(path, backbones, ca_only: bool = False) -> Path:
    """PDB or mmCIF by suffix (``.cif``/``.mmcif``, optionally ``.gz``)."""
    path = Path(path)
    cif = path.name.lower().removesuffix(".gz").endswith((".cif", ".mmcif"))
    return (write_cif if cif else write_pdb)(path, backbones, ca_only)


def read_dir(root, *, on_break: str = "split", on_missing: str = "drop", errors: str = "raise",
             progress: bool = False) -> tuple[list[Backbone], list[str]]:
    """Backbones of every structure file under ``root`` (first protein chain of each, every MODEL).
    ``errors="skip"`` collects unreadable files in the second list instead of raising."""
    files = structure_files(root)
    out, failed = [], []
    it: Iterable = files
    if progress:
        from tqdm import tqdm

        it = tqdm(files, desc=f"reading {root}", leave=False)
    for p in it:
        try:
            out.extend(read_backbones(p, on_break=on_break, on_missing=on_missing, all_models=True))
        except ValueError as e:
            if errors == "raise":
                raise
            failed.append(str(e))
    return out, failed


__all__: Sequence[str] = ["ATOMS", "Backbone", "MODIFIED", "find_breaks", "one_letter", "read_backbone",
                          "read_backbones", "read_dir", "structure_files", "write_pdb", "write_cif",
                          "write_structure", "pdb_string", "to_atom_array"]
