"""Presentation contexts for ``storescu``, the way dcmsend proposes them: per file, its own.

``storescu`` alone proposes one set of transfer syntaxes for every file of a run (``-x=``
uncompressed by default, or one ``--propose-*`` syntax plus uncompressed) and converts each file
to what was accepted, so a JPEG 2000 or RLE file fails unless its syntax is the one chosen for
the run. Its ``--config-file`` option takes an association negotiation profile instead: this
module writes one per run listing, for every SOP class / transfer syntax pair of its files, a
presentation context in the file's own syntax first, and for an uncompressed, deflated or
losslessly compressed file a second one with the uncompressed syntaxes (storescu then
decompresses it only if the peer refuses its own syntax, as dcmsend does; a lossy file is never
decompressed). The values are UIDs read from the files' meta information and checked to be UIDs
before they are written: nothing else enters the file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.filereader import read_file_meta_info

MAX_CONTEXTS = 128  # PS3.8 9.3.2.2: presentation context ids are the odd numbers 1-255
_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")

EXPLICIT_LE, IMPLICIT_LE = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"
UNCOMPRESSED = (EXPLICIT_LE, IMPLICIT_LE)
# Syntaxes whose files may be decompressed (or inflated) without loss when the peer refuses them.
LOSSLESS = {
    "1.2.840.10008.1.2.2",  # explicit VR big endian (retired)
    "1.2.840.10008.1.2.1.99",  # deflated explicit VR little endian
    "1.2.840.10008.1.2.4.57",  # JPEG lossless
    "1.2.840.10008.1.2.4.70",  # JPEG lossless, first-order prediction
    "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless only
    "1.2.840.10008.1.2.4.92",  # JPEG 2000 part 2 lossless only
    "1.2.840.10008.1.2.4.201",  # HTJ2K lossless
    "1.2.840.10008.1.2.4.202",  # HTJ2K lossless RPCL
    "1.2.840.10008.1.2.5",  # RLE lossless
}


@dataclass(frozen=True)
class FileSyntax:
    sop_class_uid: str
    transfer_syntax_uid: str
    sop_instance_uid: str


class UnreadableFile(ValueError):
    """A file whose SOP class or transfer syntax can't be read; the message says why."""


def file_syntax(path: Path) -> FileSyntax:
    """SOP class, transfer syntax and SOP instance of ``path``, from its meta information."""
    try:
        meta = read_file_meta_info(path)
        sop_class = str(meta.get("MediaStorageSOPClassUID", ""))
        syntax = str(meta.get("TransferSyntaxUID", ""))
        instance = str(meta.get("MediaStorageSOPInstanceUID", ""))
        if not (sop_class and instance):
            dataset = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID", "SOPInstanceUID"])
            sop_class = sop_class or str(dataset.get("SOPClassUID", ""))
            instance = instance or str(dataset.get("SOPInstanceUID", ""))
    except (OSError, ValueError, EOFError, pydicom.errors.InvalidDicomError) as e:
        raise UnreadableFile(f"its DICOM header could not be read ({type(e).__name__})") from None
    for name, value in (("SOP Class UID", sop_class), ("Transfer Syntax UID", syntax)):
        if not (value and len(value) <= 64 and _UID.match(value)):
            raise UnreadableFile(f"its {name} is missing or not a valid UID")
    return FileSyntax(sop_class, syntax, instance)


def contexts_of(syntax: FileSyntax) -> list[tuple[str, tuple[str, ...]]]:
    """The presentation contexts (abstract syntax, transfer syntaxes) proposed for such a file."""
    own = syntax.transfer_syntax_uid
    if own in UNCOMPRESSED:
        return [(syntax.sop_class_uid, (own, *(uid for uid in UNCOMPRESSED if uid != own)))]
    if own in LOSSLESS:
        return [(syntax.sop_class_uid, (own,)), (syntax.sop_class_uid, UNCOMPRESSED)]
    return [(syntax.sop_class_uid, (own,))]


def batches(syntaxes: Sequence[FileSyntax]) -> list[tuple[int, int]]:
    """Consecutive runs ``[start, end)`` of files whose contexts fit one association."""
    runs: list[tuple[int, int]] = []
    start, seen = 0, set[tuple[str, tuple[str, ...]]]()
    for index, syntax in enumerate(syntaxes):
        new = [c for c in contexts_of(syntax) if c not in seen]
        if len(seen) + len(new) > MAX_CONTEXTS and index > start:
            runs.append((start, index))
            start, seen = index, set()
            new = contexts_of(syntax)
        seen.update(new)
    if start < len(syntaxes):
        runs.append((start, len(syntaxes)))
    return runs


PROFILE = "Send"


def write_profile(path: Path, syntaxes: Sequence[FileSyntax]) -> None:
    """storescu's ``--config-file <path> Send``: one context per pair, in the order first met."""
    contexts: list[tuple[str, tuple[str, ...]]] = []
    for syntax in syntaxes:
        contexts += [c for c in contexts_of(syntax) if c not in contexts]
    if len(contexts) > MAX_CONTEXTS:
        raise ValueError("more presentation contexts than one association can propose")
    lists: dict[tuple[str, ...], str] = {}
    for _, transfer_syntaxes in contexts:
        lists.setdefault(transfer_syntaxes, f"TS{len(lists) + 1}")
    lines = ["[[TransferSyntaxes]]"]
    for transfer_syntaxes, name in lists.items():
        lines.append(f"[{name}]")
        lines += [f"TransferSyntax{n} = {uid}" for n, uid in enumerate(transfer_syntaxes, 1)]
    lines += ["[[PresentationContexts]]", "[Contexts]"]
    lines += [
        f"PresentationContext{n} = {abstract}\\{lists[transfer_syntaxes]}"
        for n, (abstract, transfer_syntaxes) in enumerate(contexts, 1)
    ]
    lines += ["[[Profiles]]", f"[{PROFILE}]", "PresentationContexts = Contexts", ""]
    path.write_text("\n".join(lines))
    path.chmod(0o600)
