"""Which instances of a series a peer holds: a C-FIND at IMAGE level (Study Root), with pynetdicom.

dcmsend stays the sending path; this only asks. A peer that does not answer C-FIND (it accepts
no query presentation context, rejects the association for it, or answers the query with a
failure status) is *unsupported*, said as such: many storage-only receivers (DCMTK's storescp)
are like that, and it is not a failure of the transfer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind  # type: ignore[attr-defined]

from dicomnet.association import AssociationRequest

logger = logging.getLogger(__name__)

_PENDING = (0xFF00, 0xFF01)


@dataclass(frozen=True)
class FindResult:
    answered: bool  # False: the peer does not answer C-FIND at all (see ``message``)
    sop_instance_uids: frozenset[str] = field(default_factory=frozenset)
    message: str = ""  # why not answered, or why the query could not be asked
    reached: bool = True  # False: no association could be made (refused, timeout...)


def find_series_instances(
    request: AssociationRequest, *, study_instance_uid: str, series_instance_uid: str
) -> FindResult:
    """The SOP Instance UIDs of the series the peer of ``request`` holds. Raises ``AddressError``
    or ``ValueError`` for an invalid request, like the DCMTK wrappers."""
    checked = request.checked()
    ae = AE(ae_title=checked.peer.calling_ae)
    ae.connection_timeout = checked.connect_timeout
    ae.acse_timeout = checked.acse_timeout
    ae.dimse_timeout = checked.dimse_timeout
    ae.network_timeout = checked.patience
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    where = f"{checked.peer.host}:{checked.peer.port}"
    association = ae.associate(checked.peer.host, checked.peer.port, ae_title=checked.peer.called_ae)
    if association.is_rejected:
        return FindResult(False, message=f"The destination at {where} rejected an association for C-FIND.")
    if not association.is_established:
        if association.is_aborted:
            # pynetdicom aborts an association in which no presentation context was accepted.
            return FindResult(False, message=f"The destination at {where} does not answer C-FIND (no query service).")
        return FindResult(False, reached=False, message=f"No association could be made with {where}.")
    try:
        query = Dataset()
        query.QueryRetrieveLevel = "IMAGE"
        query.StudyInstanceUID = study_instance_uid
        query.SeriesInstanceUID = series_instance_uid
        query.SOPInstanceUID = ""
        found: set[str] = set()
        for status, identifier in association.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
            if status is None or "Status" not in status:
                return FindResult(False, reached=False, message=f"The destination at {where} stopped answering.")
            code = int(status.Status)
            if code in _PENDING:
                if identifier is not None and identifier.get("SOPInstanceUID"):
                    found.add(str(identifier.SOPInstanceUID))
            elif code != 0x0000:
                return FindResult(
                    False, message=f"The destination at {where} answered the C-FIND with status 0x{code:04X}."
                )
        return FindResult(True, frozenset(found))
    finally:
        association.release()
