"""Personal identifiers moved to the kernel: `services.common.personal`. This name stays
only for `chuyi/demo/generator.py`'s import until that module imports the kernel's."""
from services.common.personal import resident_id_check_digit  # noqa: F401
