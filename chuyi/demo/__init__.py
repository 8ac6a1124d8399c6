"""Demo data for a whole selection round (`make demo`): see generator.py."""

from chuyi.demo.generator import (
    DemoApplication,
    DemoCall,
    DemoData,
    DemoExpert,
    DemoInstitution,
    DemoOrganisation,
    generate,
    resolve,
    review_comment,
    simulated_scores,
)

__all__ = [
    "DemoApplication",
    "DemoCall",
    "DemoData",
    "DemoExpert",
    "DemoInstitution",
    "DemoOrganisation",
    "generate",
    "resolve",
    "review_comment",
    "simulated_scores",
]
