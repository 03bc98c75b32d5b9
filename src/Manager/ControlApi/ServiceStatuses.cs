using Shoal.Api;
using Shoal.Store;

namespace Shoal.Manager.ControlApi;

/// <summary>
/// The task counts `docker service ls` shows (SwarmKit's <c>ListServiceStatuses</c>), read from the task-by-service
/// index so listing N services costs their tasks, not N scans of the task table. Tasks on nodes that are down (or gone)
/// are not counted: they are about to be replaced, and the CLI's own progress display ignores them too.
/// </summary>
internal sealed class ServiceStatuses
{
    private readonly ReadTransaction _view;
    private readonly Dictionary<string, bool> _nodeUp = new(StringComparer.Ordinal);

    public ServiceStatuses(ReadTransaction view)
    {
        _view = view;
    }

    public ServiceStatus Of(Service service)
    {
        var status = new ServiceStatus();
        var spec = service.Spec;
        var isJob = spec?.ModeCase is ServiceSpec.ModeOneofCase.ReplicatedJob or ServiceSpec.ModeOneofCase.GlobalJob;
        var iteration = service.JobStatus?.JobIteration ?? 0;
        ulong globalDesired = 0;
        foreach (var task in _view.Tasks.ByService(service.Id))
        {
            // A job counts the tasks of its current run only; earlier runs' tasks stay in history. A task without an
            // iteration belongs to the first run, as the orchestrators read it.
            if (isJob && (task.HasJobIteration ? task.JobIteration : 0) != iteration)
            {
                continue;
            }

            var state = task.Status?.State ?? TaskState.New;
            if (isJob && state == TaskState.Complete)
            {
                status.CompletedTasks++;
            }

            if (!OnLiveNode(task))
            {
                continue;
            }

            var wanted = isJob ? TaskState.Complete : TaskState.Running;
            if (task.DesiredState == wanted && state == TaskState.Running)
            {
                status.RunningTasks++;
            }

            // Global: one task per eligible node is wanted; a global job's finished tasks are wanted no more.
            if (task.DesiredState == wanted && (!isJob || state != TaskState.Complete))
            {
                globalDesired++;
            }
        }

        status.DesiredTasks = spec?.ModeCase switch
        {
            ServiceSpec.ModeOneofCase.Replicated => (ulong)Math.Max(0, spec.Replicated.Replicas),
            ServiceSpec.ModeOneofCase.ReplicatedJob => ReplicatedJobDesired(spec.ReplicatedJob, status.CompletedTasks),
            ServiceSpec.ModeOneofCase.Global or ServiceSpec.ModeOneofCase.GlobalJob => globalDesired,
            _ => 0,
        };
        return status;
    }

    /// <summary>
    /// Tasks a replicated job wants running now: its concurrency, but no more than the completions still missing
    /// (0 for either field means the other, as specs.proto defines them).
    /// </summary>
    private static ulong ReplicatedJobDesired(ReplicatedJob job, ulong completed)
    {
        var concurrent = job.MaxConcurrent > 0 ? job.MaxConcurrent : job.TotalCompletions;
        var total = job.TotalCompletions > 0 ? job.TotalCompletions : job.MaxConcurrent;
        var remaining = (ulong)Math.Max(0, total) > completed ? (ulong)Math.Max(0, total) - completed : 0;
        return Math.Min((ulong)Math.Max(0, concurrent), remaining);
    }

    /// <summary>An unassigned task counts (it waits for a node); an assigned one only while its node is not down.</summary>
    private bool OnLiveNode(SwarmTask task)
    {
        if (task.NodeId.Length == 0)
        {
            return true;
        }

        if (!_nodeUp.TryGetValue(task.NodeId, out var up))
        {
            up = _view.Nodes.Get(task.NodeId) is { } node && node.Status?.State != NodeState.Down;
            _nodeUp[task.NodeId] = up;
        }

        return up;
    }
}
