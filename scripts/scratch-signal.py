"""How far a dev-bench scratch's points lie from the good part, against the spread of normal points (diagnosis).

Each class's first training scan is the reference; each scratch (and one crack, for contrast) test cloud is aligned
to it by open3d point-to-plane ICP; then the labelled points' nearest-point distance and point-to-plane offset are
printed beside the unlabelled points' percentiles. Then, per class, the object AUROC (good against scratch test
clouds) of the mean of the 10 largest neighbourhood-averaged offsets (signed and unsigned, 1-16 neighbours): what
smoothing the point-wise evidence could give. Needs open3d (the test extra).

    python scripts/scratch-signal.py [--data ../shared/data/dev-bench] [--classes casting rocker_arm igea fandisk]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import open3d as o3d
from scipy.spatial import cKDTree
from sklearn.metrics import roc_auc_score


def aligned(points: np.ndarray, reference: o3d.geometry.PointCloud) -> np.ndarray:
    """``points`` moved onto ``reference`` by point-to-plane ICP from the identity (the clouds are fixtured)."""
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    fit = o3d.pipelines.registration.registration_icp(
        cloud, reference, 2.0, np.eye(4), o3d.pipelines.registration.TransformationEstimationPointToPlane())
    return np.asarray(cloud.transform(fit.transformation).points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/dev-bench")
    parser.add_argument("--classes", nargs="+", default=["casting", "rocker_arm", "igea", "fandisk"])
    args = parser.parse_args()
    for name in args.classes:
        template = np.asarray(o3d.io.read_point_cloud(str(sorted((args.data / name / "train").glob("*.pcd"))[0])).points)
        reference = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(template))
        reference.estimate_normals()
        normals, tree = np.asarray(reference.normals), cKDTree(template)
        truths = sorted((args.data / name / "gt").glob("*scratch*.txt")) + sorted((args.data / name / "gt").glob("*crack*.txt"))[:1]
        for truth in truths:
            table = np.loadtxt(truth)
            labelled = table[:, 3] > 0
            points = aligned(table[:, :3], reference)
            distance, nearest = tree.query(points)
            offset = np.abs(((points - template[nearest]) * normals[nearest]).sum(axis=1))
            print(f"{name} {truth.stem}: {labelled.sum()} of {len(points)} points labelled | nearest-point distance: "
                  f"labelled mean {distance[labelled].mean():.3f}, normal p99 {np.percentile(distance[~labelled], 99):.3f} "
                  f"| point-to-plane offset: labelled mean {offset[labelled].mean():.3f}, "
                  f"normal p99 {np.percentile(offset[~labelled], 99):.3f}")
    for name in args.classes:
        smoothing_auroc(args.data, name)


def smoothed_scores(points: np.ndarray, template: np.ndarray, normals: np.ndarray, tree: cKDTree) -> dict[str, float]:
    """Mean of the 10 largest |neighbourhood mean| of the signed offset (to the 4 nearest template planes) and of the
    nearest-point distance, for neighbourhoods of 1, 4, 8 and 16 scan points."""
    distance, nearest = tree.query(points, 4)
    signed = ((points[:, None] - template[nearest]) * normals[nearest]).sum(axis=2).mean(axis=1)
    own = cKDTree(points)
    scores = {}
    for k in (1, 4, 8, 16):
        rows = own.query(points, k)[1].reshape(len(points), -1)
        scores[f"signed{k}"] = float(np.sort(np.abs(signed[rows].mean(axis=1)))[-10:].mean())
        scores[f"unsigned{k}"] = float(np.sort(distance[:, 0][rows].mean(axis=1))[-10:].mean())
    return scores


def smoothing_auroc(data: Path, name: str) -> None:
    """Print the scratch AUROC of every smoothed score of :func:`smoothed_scores` for class ``name``."""
    template = np.asarray(o3d.io.read_point_cloud(str(sorted((data / name / "train").glob("*.pcd"))[0])).points)
    reference = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(template))
    reference.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(16))
    reference.orient_normals_consistent_tangent_plane(16)
    normals, tree = np.asarray(reference.normals), cKDTree(template)
    labels, rows = [], []
    for path in sorted((data / name / "test").glob("*.pcd")):
        kind = path.stem.split("_")[-1]
        if kind in ("good", "scratch"):
            points = aligned(np.asarray(o3d.io.read_point_cloud(str(path)).points), reference)
            labels.append(int(kind == "scratch"))
            rows.append(smoothed_scores(points, template, normals, tree))
    print(f"{name} scratch AUROC: " + " ".join(f"{key}={roc_auc_score(labels, [r[key] for r in rows]):.2f}"
                                               for key in rows[0]))


if __name__ == "__main__":
    main()
