using Shoal.Api;
using Shoal.Store;

namespace Shoal.Manager.Orchestrator;

/// <summary>
/// One orchestrator's private copy of what it reads — services, nodes, tasks by service and by node, the cluster
/// object — built once from a <see cref="MemoryStore.ViewAndWatch"/> snapshot and kept current from the watch, so a
/// pass reads the tasks of the services and nodes it looks at, never the whole store.
/// </summary>
internal sealed class OrchestratorIndex
{
    private readonly Dictionary<string, HashSet<string>> _byService = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> _byNode = new(StringComparer.Ordinal);
    private readonly Dictionary<(string ServiceId, long Slot), HashSet<string>> _bySlot = [];

    public Dictionary<string, Service> Services { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, Node> Nodes { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, SwarmTask> Tasks { get; } = new(StringComparer.Ordinal);

    /// <summary>The cluster object (there is one), when it exists.</summary>
    public Cluster? Cluster { get; private set; }

    /// <summary>The events an index follows.</summary>
    public static StoreEventFilter Filter { get; } = StoreEventFilters.Any(
        StoreEventFilters.Of<Service>(), StoreEventFilters.Of<Node>(), StoreEventFilters.Of<SwarmTask>(), StoreEventFilters.Of<Cluster>());

    /// <summary>The ids of the services <paramref name="matches"/> selects (e.g. those of one orchestrator's modes).</summary>
    public IEnumerable<string> ServiceIds(Func<Service, bool> matches) => Services.Values.Where(matches).Select(s => s.Id);

    public void Load(ReadTransaction view)
    {
        Services.Clear();
        Nodes.Clear();
        Tasks.Clear();
        _byService.Clear();
        _byNode.Clear();
        _bySlot.Clear();
        Cluster = null;
        foreach (var service in view.Services.All())
        {
            Services[service.Id] = service;
        }

        foreach (var node in view.Nodes.All())
        {
            Nodes[node.Id] = node;
        }

        foreach (var task in view.Tasks.All())
        {
            Put(task);
        }

        foreach (var cluster in view.Clusters.All())
        {
            Cluster = cluster;
        }
    }

    /// <summary>Applies one store event (commit markers are ignored).</summary>
    public void Apply(StoreEvent e)
    {
        var deleted = e.Kind == StoreEventKind.Delete;
        switch (e.Target)
        {
            case Service service when deleted:
                Services.Remove(service.Id);
                break;
            case Service service:
                Services[service.Id] = service;
                break;
            case Node node when deleted:
                Nodes.Remove(node.Id);
                break;
            case Node node:
                Nodes[node.Id] = node;
                break;
            case SwarmTask task when deleted:
                Remove(task.Id);
                break;
            case SwarmTask task:
                Put(task);
                break;
            case Cluster cluster when deleted:
                if (Cluster?.Id == cluster.Id)
                {
                    Cluster = null;
                }

                break;
            case Cluster cluster:
                Cluster = cluster;
                break;
        }
    }

    /// <summary>The tasks of a service (also of one that was deleted, until its tasks are).</summary>
    public IEnumerable<SwarmTask> TasksOf(string serviceId) => Lookup(_byService, serviceId);

    /// <summary>The tasks bound to a node (also to one that was deleted, until its tasks are).</summary>
    public IEnumerable<SwarmTask> TasksOn(string nodeId) => Lookup(_byNode, nodeId);

    /// <summary>The tasks of one slot of a replicated service.</summary>
    public IEnumerable<SwarmTask> TasksInSlot(string serviceId, long slot) => Lookup(_bySlot, (serviceId, slot));

    /// <summary>Ids of the services that have tasks on a node.</summary>
    public HashSet<string> ServicesOn(string nodeId)
    {
        var services = new HashSet<string>(StringComparer.Ordinal);
        foreach (var task in TasksOn(nodeId))
        {
            if (task.ServiceId.Length > 0)
            {
                services.Add(task.ServiceId);
            }
        }

        return services;
    }

    /// <summary>Terminated tasks kept per slot (per node for global services): the cluster's setting, else the
    /// default; negative means keep all.</summary>
    public long HistoryLimit => Cluster?.Spec?.Orchestration is { HasTaskHistoryRetentionLimit: true } orchestration
        ? orchestration.TaskHistoryRetentionLimit
        : Api.Defaults.ClusterDefaults.TaskHistoryRetentionLimit;

    public Node? NodeOf(SwarmTask task) => task.NodeId.Length > 0 && Nodes.TryGetValue(task.NodeId, out var node) ? node : null;

    private IEnumerable<SwarmTask> Lookup<TKey>(Dictionary<TKey, HashSet<string>> index, TKey key)
        where TKey : notnull
    {
        if (!index.TryGetValue(key, out var ids))
        {
            yield break;
        }

        foreach (var id in ids)
        {
            yield return Tasks[id];
        }
    }

    private void Put(SwarmTask task)
    {
        if (Tasks.TryGetValue(task.Id, out var old))
        {
            if (old.ServiceId != task.ServiceId)
            {
                Unlink(_byService, old.ServiceId, task.Id);
            }

            if (old.NodeId != task.NodeId)
            {
                Unlink(_byNode, old.NodeId, task.Id);
            }

            if (old.ServiceId != task.ServiceId || old.Slot != task.Slot)
            {
                UnlinkSlot(old);
            }
        }

        Tasks[task.Id] = task;
        Link(_byService, task.ServiceId, task.Id);
        Link(_byNode, task.NodeId, task.Id);
        if (task.ServiceId.Length > 0 && task.Slot > 0)
        {
            if (!_bySlot.TryGetValue((task.ServiceId, task.Slot), out var ids))
            {
                _bySlot[(task.ServiceId, task.Slot)] = ids = new HashSet<string>(StringComparer.Ordinal);
            }

            ids.Add(task.Id);
        }
    }

    private void Remove(string id)
    {
        if (Tasks.Remove(id, out var old))
        {
            Unlink(_byService, old.ServiceId, id);
            Unlink(_byNode, old.NodeId, id);
            UnlinkSlot(old);
        }
    }

    private void UnlinkSlot(SwarmTask task)
    {
        var key = (task.ServiceId, task.Slot);
        if (_bySlot.TryGetValue(key, out var ids) && ids.Remove(task.Id) && ids.Count == 0)
        {
            _bySlot.Remove(key);
        }
    }

    private static void Link(Dictionary<string, HashSet<string>> index, string key, string id)
    {
        if (key.Length == 0)
        {
            return;
        }

        if (!index.TryGetValue(key, out var ids))
        {
            index[key] = ids = new HashSet<string>(StringComparer.Ordinal);
        }

        ids.Add(id);
    }

    private static void Unlink(Dictionary<string, HashSet<string>> index, string key, string id)
    {
        if (key.Length > 0 && index.TryGetValue(key, out var ids) && ids.Remove(id) && ids.Count == 0)
        {
            index.Remove(key);
        }
    }
}
