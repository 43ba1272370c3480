"""Fleet campaigns: one campaign job per GPU, submitted through submitit (Slurm or local), merged into the reports.

Slurm schedules and submitit submits; this package only describes the jobs, runs the ordinary campaign inside each
one, reads back what the jobs stored, and merges finished results into reports/<gpu-slug>/data/ per node and GPU.

  config   what to submit (targets, probes, limits, the shared output folder), validated to one-line errors
  slurm    the sbatch parameters of a target (rendered by submitit, so tests need no Slurm)
  job      the function a job runs on its node: campaign, environment record, status file
  submit   executors (Slurm, local one-process-per-GPU) and the fleet manifest
  state    job states, per-probe outcomes and log tails, from the manifest and the stored files only
  collect  merge finished results per node/GPU and rebuild the comparison
  cmd      `python -m probes fleet submit|status|collect`
"""


class FleetError(ValueError):
    """A fleet configuration or state problem; the message is one line naming what and the fix."""
