"""The marketplace's fixed vocabulary: processes, materials, certifications, regions, industries.

Framework-free, so that the models (as choices and seed rows), the scoring and the simulator share one
source. Codes are stable identifiers stored in the database; labels are for people.
"""

PROCESSES: dict[str, str] = {
    "cnc_machining": "CNC machining",
    "injection_moulding": "Injection moulding",
    "sheet_metal": "Sheet metal fabrication",
    "casting": "Casting",
    "pcb_assembly": "PCB assembly",
    "3d_printing": "3D printing",
}

MATERIALS: dict[str, str] = {
    "aluminium": "Aluminium",
    "stainless_steel": "Stainless steel",
    "carbon_steel": "Carbon steel",
    "titanium": "Titanium",
    "brass": "Brass",
    "abs": "ABS",
    "nylon": "Nylon (PA)",
    "polycarbonate": "Polycarbonate",
    "fr4": "FR-4 laminate",
    "photopolymer_resin": "Photopolymer resin",
}

# Which materials each process works (used to validate orders and to draw realistic catalogs).
PROCESS_MATERIALS: dict[str, tuple[str, ...]] = {
    "cnc_machining": ("aluminium", "stainless_steel", "carbon_steel", "titanium", "brass", "abs", "nylon"),
    "injection_moulding": ("abs", "nylon", "polycarbonate"),
    "sheet_metal": ("aluminium", "stainless_steel", "carbon_steel", "brass"),
    "casting": ("aluminium", "stainless_steel", "carbon_steel", "brass"),
    "pcb_assembly": ("fr4",),
    "3d_printing": ("nylon", "abs", "titanium", "aluminium", "photopolymer_resin", "polycarbonate"),
}

CERTIFICATIONS: dict[str, str] = {
    "iso_9001": "ISO 9001 (quality management)",
    "as9100": "AS9100 (aerospace)",
    "iso_13485": "ISO 13485 (medical devices)",
    "iatf_16949": "IATF 16949 (automotive)",
    "itar": "ITAR registered (US defence)",
    "iso_14001": "ISO 14001 (environmental)",
}

# Region code -> (label, centroid latitude, centroid longitude): proximity is measured to the centroid.
REGIONS: dict[str, tuple[str, float, float]] = {
    "north_america": ("North America", 39.8, -89.0),
    "latin_america": ("Latin America", 4.0, -74.0),
    "western_europe": ("Western Europe", 49.5, 6.0),
    "central_eastern_europe": ("Central and Eastern Europe", 50.0, 19.9),
    "middle_east_africa": ("Middle East and Africa", 25.0, 40.0),
    "south_asia": ("South Asia", 20.6, 78.9),
    "southeast_asia": ("Southeast Asia", 8.0, 105.0),
    "east_asia": ("East Asia", 31.2, 118.0),
}

REGION_COUNTRIES: dict[str, tuple[str, ...]] = {
    "north_america": ("US", "CA", "MX"),
    "latin_america": ("BR", "CO", "AR", "CL"),
    "western_europe": ("DE", "FR", "NL", "IT", "ES", "GB"),
    "central_eastern_europe": ("PL", "CZ", "HU", "RO"),
    "middle_east_africa": ("TR", "AE", "ZA", "IL"),
    "south_asia": ("IN", "BD", "LK"),
    "southeast_asia": ("VN", "TH", "MY", "ID"),
    "east_asia": ("CN", "TW", "KR", "JP"),
}

INDUSTRIES: dict[str, str] = {
    "aerospace": "Aerospace and defence",
    "medical_devices": "Medical devices",
    "automotive": "Automotive",
    "consumer_products": "Consumer products",
    "electronics": "Electronics",
    "industrial_machinery": "Industrial machinery",
    "energy": "Energy",
    "robotics": "Robotics and prototyping",
}

COMPANY_SIZES: dict[str, str] = {
    "small": "Small (1-49)",
    "medium": "Medium (50-249)",
    "large": "Large (250-999)",
    "enterprise": "Enterprise (1000+)",
}

# The platform's commercial segments of buying companies: what a customer's peers tend to weigh.
SEGMENTS: dict[str, str] = {
    "quality_critical": "Quality critical",
    "cost_sensitive": "Cost sensitive",
    "speed_driven": "Speed driven",
    "balanced": "Balanced",
}

# Complexity level -> position on [0, 1] used by the scoring.
COMPLEXITY_LEVELS: dict[str, float] = {
    "simple": 0.0,
    "moderate": 1 / 3,
    "complex": 2 / 3,
    "highly_complex": 1.0,
}

# The ranking factors, in the order of every feature vector and weight vector.
FACTORS: tuple[str, ...] = ("cost_fit", "quality_fit", "speed_fit", "reliability", "proximity", "capability_depth")

FACTOR_LABELS: dict[str, str] = {
    "cost_fit": "cost fit",
    "quality_fit": "quality fit",
    "speed_fit": "speed fit",
    "reliability": "reliability",
    "proximity": "proximity",
    "capability_depth": "capability depth",
}

# The cost index of a manufacturer: its price level relative to the market (1.0), within these bounds.
COST_INDEX_MIN = 0.5
COST_INDEX_MAX = 2.0

OPTIMIZATION_GOALS: tuple[str, ...] = ("balanced", "quality", "cost", "speed")
