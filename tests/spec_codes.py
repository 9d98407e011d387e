"""SPEC §5's rule codes, for the tests that check each has its oracle file and fires in the corpus.

``tests/test_rule_cases.py`` compares the list with ``../shared/SPEC.md`` when it is beside the
repository, as on CI.
"""

#: SPEC §5's rule codes, as its table lists them.
SPEC_SECTION_5 = {
    "CODE-DATE", "CODE-UNKNOWN", "AMOUNT-BELOW", "AMOUNT-ABOVE", "IMT-ALD", "IMT-MT", "IMT-ONCE",
    "IMT-CUMUL", "VL-PLACE", "VL-QUARTER", "VL-FIRST", "VL-CASE", "VL-PALLIATIVE", "VSP-PALLIATIVE",
    "VSP-PLACE", "SNP-WEEK", "SNP-MT", "SNP-REGULATED", "SNP-48H", "SNP-PDSA", "SNP-CUMUL", "MOP-MT",
    "GL-AGE", "GL-MT", "GL-YEAR", "OPP-IMT", "OPP-VL", "OPP-VL-FIRST", "OPP-VSP", "OPP-SNP", "OPP-MOP",
    "OPP-MEG", "OPP-MT-DECLARE", "SNP-BASE", "SNP-OPPOSABLE", "MOP-BASE", "SHE-TIME", "OPP-SHE",
    "GL1-DISCHARGE", "GL1-PROOF",
}  # fmt: skip
