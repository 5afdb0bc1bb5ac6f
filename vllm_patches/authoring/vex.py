"""``vllm-patches vex``: a CycloneDX VEX document of the vLLM here, for vulnerability scanners.

One component, ``pkg:pypi/vllm@<version>``, and one vulnerability entry per security
advisory of the catalogues' patches that concerns this vLLM, with the analysis a scanner
reads (``core.status.StatusReport.advisories``, the one decision ``status --advisories``
prints):

- ``resolved_with_pedigree``: a patch closes it here (written into the files, or applicable
  and put in by the plugin at every start: only what ``status --check`` passes); the patch
  is in the component's ``pedigree.patches`` (type ``backport``, the diff of its fix,
  ``resolves`` naming the advisory);
- ``resolved``: the release (or fork) ships upstream's fix;
- ``exploitable``: it is open here.

An advisory whose affected range leaves this vLLM out is not listed: the scanner's own
data says so, and nothing here proves more. Built with cyclonedx-python-lib (its model and
its JSON output), so the document follows the schema that library validates against.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from vllm_patches.core.status import Advisory, Standing, StatusReport

SCHEMA = "1.6"


class VexUnavailable(ImportError):
    """cyclonedx-python-lib is not installed (the ``vex`` extra)."""


def vex_json(report: StatusReport, diff_of: Callable[[str, bool], str],
             tool_version: str) -> str:
    """The VEX document as CycloneDX JSON. ``diff_of(patch_id, in_the_files)``: the unified
    diff of that patch's fix (``source.diffs.fix_diff``)."""
    try:
        from cyclonedx.output.json import JsonV1Dot6
    except ImportError as exc:
        raise VexUnavailable(str(exc)) from None
    return JsonV1Dot6(bom_of(report, diff_of, tool_version)).output_as_string(indent=2)


def bom_of(report: StatusReport, diff_of: Callable[[str, bool], str], tool_version: str):
    from cyclonedx.model import AttachedText
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import (
        Component,
        ComponentType,
        Diff,
        Patch,
        PatchClassification,
        Pedigree,
    )
    from cyclonedx.model.issue import IssueClassification, IssueType
    from cyclonedx.model.vulnerability import (
        BomTarget,
        ImpactAnalysisState,
        Vulnerability,
        VulnerabilityAnalysis,
    )
    from packageurl import PackageURL

    install = report.install
    version = str(install.version) if install is not None and install.version else "unknown"
    purl = PackageURL("pypi", None, "vllm", version)
    component = Component(type=ComponentType.LIBRARY, name="vllm", version=version,
                          purl=purl, bom_ref=purl.to_string())
    bom = Bom()
    bom.metadata.component = component
    states = {Standing.PATCHED: ImpactAnalysisState.RESOLVED_WITH_PEDIGREE,
              Standing.FIXED_UPSTREAM: ImpactAnalysisState.RESOLVED,
              Standing.OPEN: ImpactAnalysisState.EXPLOITABLE}
    by_patch: dict[str, list[Advisory]] = {}
    for advisory in report.advisories:
        if advisory.standing not in states:
            continue
        vulnerability = Vulnerability(
            id=advisory.id, bom_ref=f"{advisory.id}@{purl.to_string()}",
            source=_source(advisory.id), ratings=_ratings(advisory),
            description=f"fixed by {advisory.patch}: {advisory.how}",
            analysis=VulnerabilityAnalysis(state=states[advisory.standing],
                                           detail=advisory.how),
            affects=[BomTarget(ref=component.bom_ref.value)])
        bom.vulnerabilities.add(vulnerability)
        if advisory.standing == Standing.PATCHED:
            by_patch.setdefault(advisory.patch, []).append(advisory)
    applied = {s.patch.id: s for s in report.patches}
    patches = []
    for patch_id, closed in by_patch.items():
        in_files = str(applied[patch_id].mode) == "source"
        resolves = [IssueType(type=IssueClassification.SECURITY, id=a.id,
                              source=_issue_source(a.id)) for a in closed]
        patches.append(Patch(type=PatchClassification.BACKPORT,
                             diff=Diff(text=AttachedText(content=diff_of(patch_id, in_files))),
                             resolves=resolves))
    if patches:
        component.pedigree = Pedigree(patches=patches)
    from cyclonedx.model.tool import Tool

    bom.metadata.tools.tools.add(Tool(vendor="vllm-patches", name="vllm-patches",
                                      version=tool_version))
    return bom


def _source(advisory_id: str):
    from cyclonedx.model import XsUri
    from cyclonedx.model.vulnerability import VulnerabilitySource

    if advisory_id.startswith("GHSA-"):
        return VulnerabilitySource(name="GitHub",
                                   url=XsUri(f"https://github.com/advisories/{advisory_id}"))
    return VulnerabilitySource(name="NVD",
                               url=XsUri(f"https://nvd.nist.gov/vuln/detail/{advisory_id}"))


def _issue_source(advisory_id: str):
    from cyclonedx.model.issue import IssueTypeSource

    source = _source(advisory_id)
    return IssueTypeSource(name=source.name, url=source.url)


def _ratings(advisory: Advisory) -> list:
    from cyclonedx.model.vulnerability import VulnerabilityRating, VulnerabilitySeverity

    if advisory.severity is None and advisory.cvss is None:
        return []
    severity = VulnerabilitySeverity(advisory.severity) if advisory.severity else None
    # The library's type for a score is a Decimal (a float is written as a string, which
    # the schema refuses).
    score = Decimal(str(advisory.cvss)) if advisory.cvss is not None else None
    return [VulnerabilityRating(score=score, severity=severity)]
