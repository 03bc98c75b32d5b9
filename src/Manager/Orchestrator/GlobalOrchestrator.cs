using Microsoft.Extensions.Logging;
using Shoal.Api;
using Shoal.Store;

namespace Shoal.Manager.Orchestrator;

/// <summary>
/// Runs one task of every global service on every eligible node, and global jobs once per node and iteration
/// (DESIGN §8). A node is eligible while it is not DOWN, not drained and satisfies the service's placement
/// constraints; it gets new tasks only while it is ACTIVE and READY (or UNKNOWN, just after a failover). Tasks are
/// created bound to their node (slot 0); the scheduler checks the node can take them and moves them to ASSIGNED.
/// A node that stops being eligible has its tasks shut down; a deleted node's tasks are removed. A task that ends is
/// replaced on the same node as <see cref="RestartSupervisor.Decide"/> rules. It follows the store in its own index
/// and reconciles only the (service, node) pairs an event touched, in one batch per pass.
/// </summary>
public sealed class GlobalOrchestrator
{
    private readonly OrchestratorLoop _loop;
    private readonly HashSet<string> _dirtyServices = new(StringComparer.Ordinal);
    private readonly HashSet<string> _dirtyNodes = new(StringComparer.Ordinal);
    private readonly HashSet<(string ServiceId, string NodeId)> _dirtyPairs = [];

    public GlobalOrchestrator(MemoryStore store, OrchestratorOptions? options = null, TimeProvider? time = null, ILogger<GlobalOrchestrator>? logger = null) =>
        _loop = new OrchestratorLoop(nameof(GlobalOrchestrator), store, options, time, logger);

    /// <summary>Passes whose writes are committed (tests wait on it).</summary>
    internal int PassesCompleted => _loop.PassesCompleted;

    /// <summary>Reconciles until <paramref name="cancellationToken"/> is cancelled (leadership lost) or the store
    /// closes; every global service is checked against every node at start.</summary>
    public Task RunAsync(CancellationToken cancellationToken) =>
        _loop.RunAsync(Load, Apply, HasWork, Plan, _loop.Options.CommitDebounceGap, cancellationToken);

    internal static bool IsGlobal(Service? service) =>
        service?.Spec?.ModeCase is ServiceSpec.ModeOneofCase.Global or ServiceSpec.ModeOneofCase.GlobalJob;

    private void Load()
    {
        _dirtyServices.Clear();
        _dirtyNodes.Clear();
        _dirtyPairs.Clear();
        _dirtyServices.UnionWith(_loop.Index.ServiceIds(IsGlobal));
    }

    private bool HasWork() => _dirtyServices.Count > 0 || _dirtyNodes.Count > 0 || _dirtyPairs.Count > 0;

    private bool Apply(StoreEvent e)
    {
        switch (e.Target)
        {
            case Service service when e.Kind != StoreEventKind.Delete && IsGlobal(service):
                _dirtyServices.Add(service.Id);
                return true;
            case Node node:
                // Any change may matter: state, availability, labels, role, platform.
                _dirtyNodes.Add(node.Id);
                return true;
            case SwarmTask task when task.NodeId.Length > 0 && TaskFacts.ChangeMatters(e, task)
                                     && IsGlobal(_loop.Index.Services.GetValueOrDefault(task.ServiceId)):
                _dirtyPairs.Add((task.ServiceId, task.NodeId));
                return true;
            default:
                return false;
        }
    }

    private int Plan(WritePlan plan)
    {
        var globals = _loop.Index.Services.Values.Where(IsGlobal).ToList();
        foreach (var serviceId in _dirtyServices)
        {
            foreach (var nodeId in _loop.Index.Nodes.Keys)
            {
                _dirtyPairs.Add((serviceId, nodeId));
            }

            // Nodes that are gone but still hold tasks of the service.
            foreach (var task in _loop.Index.TasksOf(serviceId))
            {
                if (task.NodeId.Length > 0)
                {
                    _dirtyPairs.Add((serviceId, task.NodeId));
                }
            }
        }

        foreach (var nodeId in _dirtyNodes)
        {
            foreach (var service in globals)
            {
                _dirtyPairs.Add((service.Id, nodeId));
            }
        }

        var now = _loop.Time.GetUtcNow();
        var pairs = _dirtyPairs.Count;
        foreach (var (serviceId, nodeId) in _dirtyPairs)
        {
            if (_loop.Index.Services.TryGetValue(serviceId, out var service) && IsGlobal(service) && !service.PendingDelete)
            {
                Reconcile(service, nodeId, plan, now);
            }
        }

        _dirtyServices.Clear();
        _dirtyNodes.Clear();
        _dirtyPairs.Clear();
        return pairs;
    }

    /// <summary>May keep tasks of <paramref name="service"/>: not DOWN, not drained, constraints met.</summary>
    internal static bool CanKeep(Service service, Node node) =>
        !TaskFacts.IsDown(node) && !TaskFacts.IsDrained(node) && TaskRules.SatisfiesConstraints(service.Spec.Task, node);

    /// <summary>May get new tasks: also ACTIVE, and READY (or UNKNOWN while the dispatcher's grace period runs).</summary>
    internal static bool CanStart(Service service, Node node) =>
        CanKeep(service, node) && (node.Spec?.Availability ?? NodeAvailability.Active) == NodeAvailability.Active
        && node.Status?.State is NodeState.Ready or NodeState.Unknown;

    private void Reconcile(Service service, string nodeId, WritePlan plan, DateTimeOffset now)
    {
        var node = _loop.Index.Nodes.GetValueOrDefault(nodeId);
        var isJob = service.Spec.ModeCase == ServiceSpec.ModeOneofCase.GlobalJob;
        var tasks = new List<SwarmTask>();
        foreach (var task in _loop.Index.TasksOn(nodeId))
        {
            if (task.ServiceId != service.Id || task.DesiredState >= TaskState.Remove)
            {
                continue;
            }

            if (node is null)
            {
                plan.Raise(task, TaskState.Remove);
            }
            else if (!TaskFacts.InIteration(task, service))
            {
                plan.Raise(task, TaskState.Shutdown);
            }
            else
            {
                tasks.Add(task);
            }
        }

        if (node is null)
        {
            return;
        }

        if (!CanKeep(service, node))
        {
            foreach (var task in tasks)
            {
                plan.Raise(task, TaskState.Shutdown);
            }

            return;
        }

        if (isJob && tasks.Any(t => TaskFacts.StateOf(t) == TaskState.Complete))
        {
            return;
        }

        var active = false;
        foreach (var task in tasks)
        {
            if (TaskFacts.IsActive(task))
            {
                active = true;
            }
            else if (TaskFacts.IsRunnable(task))
            {
                plan.Raise(task, TaskState.Shutdown);
            }
        }

        if (active || !CanStart(service, node))
        {
            return;
        }

        var delay = TimeSpan.Zero;
        if (tasks.Count > 0)
        {
            var decision = RestartSupervisor.Decide(TaskFacts.Newest(tasks), tasks, node, isJob);
            if (!decision.Replace)
            {
                return;
            }

            delay = decision.Delay;
        }

        var serviceId = service.Id;
        var desired = delay > TimeSpan.Zero ? TaskState.Ready : TaskState.Running;
        plan.Create(tx =>
        {
            var current = tx.Services.Get(serviceId);
            var currentNode = tx.Nodes.Get(nodeId);
            if (current is null || current.PendingDelete || !IsGlobal(current) || currentNode is null || !CanStart(current, currentNode))
            {
                return null;
            }

            foreach (var task in tx.Tasks.ByNode(nodeId))
            {
                if (task.ServiceId == serviceId && TaskFacts.IsActive(task) && TaskFacts.InIteration(task, current))
                {
                    return null;
                }
            }

            return TaskFacts.NewTask(current, 0, nodeId, desired, now, tx.Clusters.All().FirstOrDefault());
        });
    }
}
