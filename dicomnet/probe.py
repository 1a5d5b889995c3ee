"""Which transfer syntaxes a peer accepts for which storage SOP classes: presentation contexts
negotiated with pynetdicom, nothing sent.

Each proposed context is one SOP class with one transfer syntax, so the answer to each is the
peer's verdict on exactly that pair (a context with several syntaxes tells only the one chosen).
An association carries at most 128 contexts (PS3.8 9.3.2.2: odd context IDs 1-255), so the pairs
are proposed in groups of whole SOP classes, one association per group, each released at once.
Why pynetdicom and not DCMTK: none of DCMTK's programs negotiates without sending, nor reports
the peer's answer per context (docs/transfers.md, "What a destination accepts").
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pynetdicom import AE, build_context, evt
from pynetdicom.pdu_primitives import A_ASSOCIATE
from pynetdicom.presentation import PresentationContext

from dicomnet.association import AssociationRequest
from dicomnet.tls import TlsOptions, client_context

logger = logging.getLogger(__name__)

MAX_CONTEXTS = 128

# Storage SOP classes proposed besides those of the instances held (PS3.4 B.5).
COMMON_SOP_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image
    "1.2.840.10008.5.1.4.1.1.4",  # MR Image
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image
    "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography Image
    "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray Image - For Presentation
    "1.2.840.10008.5.1.4.1.1.1.2",  # Digital Mammography X-Ray Image - For Presentation
    "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound Image
    "1.2.840.10008.5.1.4.1.1.3.1",  # Ultrasound Multi-frame Image
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image
    "1.2.840.10008.5.1.4.1.1.12.1",  # X-Ray Angiographic Image
    "1.2.840.10008.5.1.4.1.1.20",  # Nuclear Medicine Image
    "1.2.840.10008.5.1.4.1.1.128",  # Positron Emission Tomography Image
    "1.2.840.10008.5.1.4.1.1.481.2",  # RT Dose
)

# Transfer syntaxes proposed for each SOP class: what instances are commonly stored in.
COMMON_TRANSFER_SYNTAXES = (
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51",  # JPEG Extended
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.5",  # RLE Lossless
)


@dataclass(frozen=True)
class ProbeResult:
    reached: bool  # False: no association could be made (see ``message``)
    accepted: dict[str, list[str]] = field(default_factory=dict)  # SOP class → accepted syntaxes, in proposal order
    message: str = ""
    associations: int = 0


def groups(sop_classes: Sequence[str], syntaxes: Sequence[str]) -> list[list[PresentationContext]]:
    """The contexts to propose, whole SOP classes per association, at most ``MAX_CONTEXTS`` each."""
    per_association = max(1, MAX_CONTEXTS // max(1, len(syntaxes)))
    result = []
    for start in range(0, len(sop_classes), per_association):
        contexts = [
            build_context(sop_class, [syntax])
            for sop_class in sop_classes[start : start + per_association]
            for syntax in syntaxes[:MAX_CONTEXTS]
        ]
        result.append(contexts)
    return result


def _collect(into: list[object]) -> Callable[[Any], None]:
    return lambda event: into.append(event.primitive)


def probe_storage(
    request: AssociationRequest,
    *,
    sop_classes: Iterable[str],
    transfer_syntaxes: Sequence[str] = COMMON_TRANSFER_SYNTAXES,
    tls: TlsOptions | None = None,
) -> ProbeResult:
    """Propose every (SOP class, transfer syntax) pair to the peer of ``request`` and report the
    accepted ones; over DICOM TLS with ``tls`` (the peer's certificate verified against its CA
    certificates and host name, ours given when mutual). Raises ``AddressError`` or
    ``ValueError`` for an invalid request."""
    checked = request.checked()
    where = f"{checked.peer.host}:{checked.peer.port}"
    tls_args = None
    if tls is not None:
        try:
            tls_args = (client_context(tls), checked.peer.host)
        except (ssl.SSLError, OSError) as e:
            return ProbeResult(False, message=f"The TLS files of {where} could not be loaded ({e}).")
    classes = list(dict.fromkeys(sop_classes))
    ae = AE(ae_title=checked.peer.calling_ae)
    ae.connection_timeout = checked.connect_timeout
    ae.acse_timeout = checked.acse_timeout
    ae.dimse_timeout = checked.dimse_timeout
    ae.network_timeout = checked.patience
    accepted: dict[str, list[str]] = {sop_class: [] for sop_class in classes}
    made = 0
    for contexts in groups(classes, list(transfer_syntaxes)):
        answered: list[object] = []
        association = ae.associate(
            checked.peer.host,
            checked.peer.port,
            contexts=contexts,
            ae_title=checked.peer.called_ae,
            tls_args=tls_args,
            evt_handlers=[(evt.EVT_ACSE_RECV, _collect(answered))],
        )
        if association.is_rejected:
            return ProbeResult(
                False, message=f"The destination at {where} rejected the association.", associations=made
            )
        if not association.is_established:
            if any(isinstance(primitive, A_ASSOCIATE) for primitive in answered):
                # It accepted the association but none of its contexts: pynetdicom then aborts it.
                made += 1
                continue
            over = " over DICOM TLS" if tls is not None else ""
            return ProbeResult(False, message=f"No association could be made with {where}{over}.", associations=made)
        made += 1
        try:
            for context in association.accepted_contexts:
                if context.abstract_syntax in accepted and context.transfer_syntax:
                    accepted[str(context.abstract_syntax)].append(str(context.transfer_syntax[0]))
        finally:
            association.release()
    order = {syntax: index for index, syntax in enumerate(transfer_syntaxes)}
    for syntaxes in accepted.values():
        syntaxes.sort(key=lambda syntax: order.get(syntax, len(order)))
    return ProbeResult(True, accepted, associations=made)
