"""Ground-truth data sets: dSprites (procedural on the official grid, or the official files) and 3D Shapes."""
from .dsprites import FACTOR_NAMES, FACTOR_SIZES, OFFICIAL_VALUES, DSprites
from .files import DataFileError
from .ground_truth import GroundTruthData, PackedImages, unpack_bits
from .shapes3d import Shapes3D

__all__ = ["DSprites", "Shapes3D", "GroundTruthData", "PackedImages", "DataFileError", "unpack_bits",
           "FACTOR_NAMES", "FACTOR_SIZES", "OFFICIAL_VALUES"]
