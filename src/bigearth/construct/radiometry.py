"""Bringing S2 L2A digital numbers to reBEN's radiometry: reflectance x 10^4 without an offset.

From processing baseline 04.00 on, L2A products store ``DN = 10^4 * reflectance - BOA_ADD_OFFSET`` with
``BOA_ADD_OFFSET = -1000`` (ESA, introduction of processing baseline 04.00, January 2022); reBEN's values have no offset
(it was processed with a local sen2cor run). Reflectance is ``(DN + BOA_ADD_OFFSET) / QUANTIFICATION_VALUE``, so
reBEN's value is ``(DN + BOA_ADD_OFFSET) * 10^4 / QUANTIFICATION_VALUE``.

DN 0 is the product's nodata and stays 0. Valid pixels whose reflectance would be 0 or negative (dark water and
shadows can fall below the offset) become 1, so that no valid pixel turns into reBEN's nodata value.
"""

import numpy as np

#: reBEN stores reflectance x 10^4.
REBEN_SCALE = 10_000


def to_reben(dn: np.ndarray, *, offset: int, quantification: float = REBEN_SCALE) -> np.ndarray:
    """Convert L2A digital numbers to reBEN values.

    Args:
        dn: uint16 digital numbers of one band, any shape; 0 is nodata.
        offset: the band's ``BOA_ADD_OFFSET`` (-1000 from baseline 04.00 on, else 0).
        quantification: the product's ``BOA_QUANTIFICATION_VALUE``.

    Returns:
        A uint16 array of the same shape: reflectance x 10^4, 0 where ``dn`` is 0, else at least 1.
    """
    if offset == 0 and quantification == REBEN_SCALE:
        return dn.astype(np.uint16, copy=False)
    values = (dn.astype(np.float64) + offset) * (REBEN_SCALE / quantification)
    values = np.clip(np.rint(values), 1, np.iinfo(np.uint16).max).astype(np.uint16)
    values[dn == 0] = 0
    return values
