"""The workflow through SLURM (profiles/slurm, snakemake-executor-plugin-slurm) on a real
cluster, checked against SLURM's own accounting records (sacct).

Which cluster:
- scripts/slurm-local.sh's single-node cluster: used if it is already up (and left running), or
  else brought up here (it needs root and apt-get: Debian's slurm-wlm, munge, MariaDB) and shut
  down afterwards. Without root or apt-get the test is skipped, unless EEVFLOW_SLURM_TEST=1 (as
  .ci/run sets it), which makes that a failure;
- with EEVFLOW_SLURM_TEST=1, any reachable cluster (`sinfo` answers), with the partition and
  account in EEVFLOW_SLURM_PARTITION and EEVFLOW_SLURM_ACCOUNT and a work folder on a file system
  the nodes share in EEVFLOW_SLURM_WORKDIR.
EEVFLOW_SLURM_TEST=0 skips it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml

from eevflow.decoded_shard import read_index

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
SCRIPT = REPO / "scripts" / "slurm-local.sh"
PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
MARKER = "# eevflow-slurm-local"
GPU_RULES = ("extract", "train", "predict")  # rules that may ask for a GPU

pytestmark = pytest.mark.integration


def tiny_config() -> dict:
    """The demo at its smallest: 8 short videos, both offline extractors (a neural one that asks
    for a GPU, and logmel), one variant, one ensemble."""
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["demo"].update(n_train=4, n_val=2, n_test=2, min_seconds=8, max_seconds=10, seed=3)
    cfg["n_shards"] = 1
    cfg["model_defaults"]["tcn"]["channels"] = 16
    cfg["training_defaults"]["epochs"] = 5
    cfg["extractors"] = {name: cfg["extractors"][name] for name in ("effnet_lite0", "logmel64")}
    cfg["variants"] = {"tcn_pe_av": {"features": ["effnet_lite0", "logmel64"]}}
    cfg["paper_tables"] = {}  # config.yaml's name the demo's variants
    cfg["ensembles"] = {"ens": {"members": {"tcn_pe_av": 1.0}}}
    return cfg


def _run(cmd, timeout=120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def _sinfo_works() -> bool:
    if not shutil.which("sinfo"):
        return False
    try:
        return _run(["sinfo", "-h", "-o", "%P"], timeout=30).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _local_cluster_up() -> bool:
    return _run(["bash", str(SCRIPT), "status"], timeout=60).returncode == 0


@pytest.fixture(scope="module")
def cluster():
    """(partition, account, timings) of a SLURM cluster to run on; see the module docstring."""
    mode = os.environ.get("EEVFLOW_SLURM_TEST", "")
    if mode == "0":
        pytest.skip("EEVFLOW_SLURM_TEST=0")
    partition = os.environ.get("EEVFLOW_SLURM_PARTITION", "debug")
    account = os.environ.get("EEVFLOW_SLURM_ACCOUNT", "eevflow")
    conf = Path("/etc/slurm/slurm.conf")
    ours = not conf.exists() or conf.read_text().startswith(MARKER)
    if ours and shutil.which("sinfo") and _local_cluster_up():
        yield partition, account, {}
        return
    if not ours or _sinfo_works():
        if mode != "1":
            pytest.skip("a SLURM cluster not started by scripts/slurm-local.sh is configured here:"
                        " set EEVFLOW_SLURM_TEST=1 (and EEVFLOW_SLURM_PARTITION/ACCOUNT/WORKDIR)"
                        " to run the workflow on it")
        if not _sinfo_works():
            pytest.fail(f"EEVFLOW_SLURM_TEST=1 but sinfo does not answer ({conf})")
        yield partition, account, {}
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        why = ("no SLURM cluster is up, and bringing one up (scripts/slurm-local.sh up) needs"
               " root and apt-get")
        if mode == "1":
            pytest.fail(f"EEVFLOW_SLURM_TEST=1 but {why}")
        pytest.skip(why)
    t0 = time.monotonic()
    proc = _run(["bash", str(SCRIPT), "up"], timeout=900)
    assert proc.returncode == 0, f"scripts/slurm-local.sh up failed:\n{proc.stderr[-4000:]}"
    up = dict(line.split("=", 1) for line in proc.stdout.split() if "=" in line)
    timings = {"bring-up (packages included) s": round(time.monotonic() - t0, 1)}
    try:
        yield up["partition"], up["account"], timings
    finally:
        down = _run(["bash", str(SCRIPT), "down"], timeout=300)
        assert down.returncode == 0, down.stderr[-3000:]


def _node_cpus(partition: str) -> int:
    """CPUs of the smallest node of ``partition``: the most a group job may ask for."""
    out = _run(["sinfo", "-h", "-p", partition, "-o", "%c"]).stdout.split()
    return min(int(re.sub(r"\D", "", c)) for c in out) if out else 2


def test_profile_asks_for_gpus_only_where_the_rules_need_them():
    profile = yaml.safe_load(PROFILE.read_text())
    assert profile["executor"] == "slurm"
    assert profile["set-resources"]["train"]["gpu"] == 1
    assert "extract" not in profile["set-resources"]  # the rule decides per extractor
    assert {"slurm_partition", "slurm_account", "runtime", "mem_mb"} <= set(
        profile["default-resources"]
    )
    # a failed job is tried again, asking for more (rules: eevflow.resources.on_attempt)
    assert profile["retries"] >= 1


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    partition, account, timings = cluster
    shared = os.environ.get("EEVFLOW_SLURM_WORKDIR")
    workdir = (Path(shared) / f"eevflow-slurm-test-{os.getpid()}" if shared
               else tmp_path_factory.mktemp("slurm"))
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = tiny_config()
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))

    # The repository's profile, pointed at this cluster: its partition and account, no GPU
    # requests (none here), no job (group) wider than a node, quick first status check, and the
    # SLURM logs of successful jobs kept for the checks below. Long jobs take one core each, so
    # two jobs share a 2-core machine and their start-ups overlap.
    profile = yaml.safe_load(PROFILE.read_text())
    profile["default-resources"].update(
        slurm_partition=f"'{partition}'", slurm_account=f"'{account}'"
    )
    for rule in GPU_RULES:
        res = profile["set-resources"].setdefault(rule, {})
        res.pop("gpu_model", None)
        res["gpu"] = 0
    profile["cores"] = min(profile.get("cores", 2), _node_cpus(partition))
    profile["set-threads"] = {rule: 1 for rule in ("demo_data", *GPU_RULES)}
    profile["slurm-init-seconds-before-status-checks"] = 5
    profile["slurm-keep-successful-logs"] = True
    # the plugin's report of what each job used against what it asked for (docs/slurm.md)
    profile["slurm-efficiency-report"] = True
    profile["slurm-efficiency-report-path"] = str(workdir / "efficiency")
    (workdir / "profile").mkdir(exist_ok=True)
    (workdir / "profile" / "config.yaml").write_text(yaml.safe_dump(profile))

    cmd = [
        str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(workdir / "config.yaml"),
        "--workflow-profile", str(workdir / "profile"),
    ]
    # Jobs inherit this environment (sbatch --export=ALL): snakemake must be on their PATH.
    env = {**os.environ, "PATH": f"{SNAKEMAKE.parent}{os.pathsep}{os.environ['PATH']}"}
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 120))
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, text=True, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=1500)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        run_id = re.search(r"SLURM run ID: (\S+)", out)
        if run_id:
            _run(["scancel", "--name", run_id.group(1)])
        pytest.fail(f"snakemake under SLURM did not finish in 25 min:\n{out[-6000:]}")
    timings["workflow under SLURM s"] = round(time.monotonic() - t0, 1)
    (workdir / "snakemake.log").write_text(out)
    assert proc.returncode == 0, out[-8000:]
    print(f"\nSLURM test timings: {timings}")
    return workdir, cfg, out, since, partition, account


def _sacct(run_id: str, since: str, expected: set[str]) -> pd.DataFrame:
    """SLURM's accounting records of the jobs named ``run_id`` (the plugin names every job of
    a run after its run ID); waits until slurmdbd has them all."""
    cols = ["JobIDRaw", "JobName", "State", "ExitCode", "Comment", "Account", "Partition"]
    deadline = time.monotonic() + 60
    while True:
        proc = _run(["sacct", "-X", "-n", "-P", "--name", run_id, "-S", since, "-E", "now",
                     "-o", ",".join(cols)])
        assert proc.returncode == 0, proc.stderr
        rows = [line.split("|") for line in proc.stdout.splitlines() if line.strip()]
        df = pd.DataFrame(rows, columns=cols)
        done = set(df["JobIDRaw"]) >= expected and (df["State"] == "COMPLETED").all()
        if done or time.monotonic() > deadline:
            return df
        time.sleep(2)


def test_every_job_ran_as_a_completed_slurm_job(slurm_run):
    workdir, cfg, out, since, partition, account = slurm_run
    run_id = re.search(r"SLURM run ID: (\S+)", out).group(1)
    # what Snakemake submitted (SLURM job ID -> Snakemake job) and what it ran (rule -> count)
    submitted = dict(re.findall(r"Job (\S+) has been submitted with SLURM jobid (\d+)", out))
    submitted = {slurm: job for job, slurm in submitted.items()}
    finished = Counter(re.findall(r"Finished jobid: \S+ \(Rule: (\w+)\)", out))
    # one decode job per (split, shard): 3 splits x 1 shard, not one per video
    assert finished["all"] == 1 and finished["decode"] == 3 * cfg["n_shards"], finished

    df = _sacct(run_id, since, set(submitted))
    print("\n" + df.to_string(index=False))
    assert set(df["JobIDRaw"]) == set(submitted), (sorted(df["JobIDRaw"]), sorted(submitted))
    assert len(df) == len(submitted)
    bad = df[(df["State"] != "COMPLETED") | (df["ExitCode"] != "0:0")]
    assert bad.empty, bad.to_string()
    assert (df["Account"] == account).all() and (df["Partition"] == partition).all()

    # The plugin's --comment names the rule (rule_<name>[_wildcards_<values>]): every job but
    # the local `all` ran in SLURM, once.
    rules = Counter(re.sub(r"^rule_|_wildcards_.*$", "", c) for c in df["Comment"])
    expected = {rule: n for rule, n in finished.items() if rule != "all"}
    assert dict(rules) == expected
    assert len(df) == sum(finished.values()) - 1

    # each SLURM job's own log (written by slurmd) is there, and the decode jobs' logs show that
    # together they decoded all 8 videos
    logs = {p.stem: p for p in (workdir / ".snakemake" / "slurm_logs").rglob("*.log")}
    assert set(logs) == set(submitted)
    decode_logs = [logs[j].read_text() for j, c in zip(df["JobIDRaw"], df["Comment"])
                   if c.startswith("rule_decode")]
    assert all(re.search(r"^\s*rule decode:", text, re.M) for text in decode_logs)
    decoded = sum(int(n) for text in decode_logs
                  for n in re.findall(r"shard \d{3}: (\d+) videos", text))
    assert decoded == 8, decode_logs


def test_the_slurm_run_writes_the_workflow_outputs(slurm_run):
    workdir, cfg, *_ = slurm_run
    res = workdir / "results"
    for split, n in (("train", 4), ("val", 2), ("test", 2)):
        manifest = pd.read_parquet(res / "manifest" / f"{split}.parquet")
        assert len(manifest) == n and (manifest["status"] == "ok").all()
        shard = res / "decoded" / split / "shard-000"
        assert sorted(read_index(shard)) == sorted(manifest["video_id"])
        for ext in cfg["extractors"]:
            assert (res / "features" / ext / split / "shard-000.parquet").exists()
    assert (res / "models" / "tcn_pe_av" / "model.pt").exists()
    scores = pd.read_csv(res / "scores" / "scores.csv")
    # and the oracle row: the demo's noise-free test signal (data.test_oracle)
    assert set(scores["model"]) == {"tcn_pe_av", "ens", "oracle"}
    assert set(scores["split"]) == {"val", "test"}
    for model in ("tcn_pe_av", "ens"):
        assert len(pd.read_csv(res / "submission" / f"{model}.csv")) > 0


def test_every_job_used_less_memory_than_it_asked_for(slurm_run):
    """The plugin's efficiency report (sacct's MaxRSS against ReqMem, per job step), as
    docs/slurm.md tells users to read it: no rule's request is too small for its job."""
    workdir, *_ = slurm_run
    reports = list((workdir / "efficiency").glob("efficiency_report_*.csv"))
    assert len(reports) == 1, reports
    df = pd.read_csv(reports[0])
    print("\n" + df[["JobID", "RuleName", "Elapsed", "MaxRSS_MB", "RequestedMem_MB",
                     "Memory Usage (%)"]].to_string(index=False))
    assert len(df) > 0 and df["RuleName"].notna().all()
    assert (df["RequestedMem_MB"] > 0).all()
    assert (df["Memory Usage (%)"] < 100).all(), df.to_string()
