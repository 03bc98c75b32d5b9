using Shoal.Api;

namespace Shoal.Manager.Scheduler;

/// <summary>
/// The scheduler's picture of one node: the node itself and the tasks bound to it that are not finished, with what
/// they add up to (tasks per service, reserved CPU and memory, host ports in use). Kept up to date from store events
/// and from the scheduler's own decisions, so a pass never reads the store's task table.
/// </summary>
internal sealed class NodeInfo
{
    private readonly Dictionary<string, SwarmTask> _tasks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _activeByService = new(StringComparer.Ordinal);
    private readonly Dictionary<HostPort, int> _hostPorts = [];

    public NodeInfo(Node node)
    {
        Node = node;
    }

    public Node Node { get; set; }

    public string Id => Node.Id;

    /// <summary>Tasks bound to this node and not finished, by id.</summary>
    public IReadOnlyDictionary<string, SwarmTask> Tasks => _tasks;

    /// <summary>Tasks that should be running here (desired state RUNNING or earlier): what spreading counts.</summary>
    public int ActiveTasks { get; private set; }

    public long ReservedNanoCpus { get; private set; }

    public long ReservedMemoryBytes { get; private set; }

    public long AvailableNanoCpus => (Node.Description?.Resources?.NanoCpus ?? 0) - ReservedNanoCpus;

    public long AvailableMemoryBytes => (Node.Description?.Resources?.MemoryBytes ?? 0) - ReservedMemoryBytes;

    /// <summary>Active tasks of <paramref name="serviceId"/> here (the empty id counts tasks without a service).</summary>
    public int ActiveTasksOf(string serviceId) => _activeByService.TryGetValue(serviceId, out var count) ? count : 0;

    public bool UsesHostPort(HostPort port) => _hostPorts.ContainsKey(port);

    /// <summary>Adds the task, or replaces the version already held (what it reserves is recounted).</summary>
    public void Put(SwarmTask task)
    {
        Remove(task.Id);
        _tasks[task.Id] = task;
        Count(task, +1);
    }

    /// <summary>Removes the task if it is held; true when it was.</summary>
    public bool Remove(string taskId)
    {
        if (!_tasks.Remove(taskId, out var old))
        {
            return false;
        }

        Count(old, -1);
        return true;
    }

    private void Count(SwarmTask task, int sign)
    {
        if (task.DesiredState <= TaskState.Running)
        {
            ActiveTasks += sign;
            var count = ActiveTasksOf(task.ServiceId) + sign;
            if (count == 0)
            {
                _activeByService.Remove(task.ServiceId);
            }
            else
            {
                _activeByService[task.ServiceId] = count;
            }
        }

        if (task.Spec?.Resources?.Reservations is { } reservations)
        {
            ReservedNanoCpus += sign * reservations.NanoCpus;
            ReservedMemoryBytes += sign * reservations.MemoryBytes;
        }

        if (task.Endpoint is not { Ports.Count: > 0 })
        {
            return;
        }

        foreach (var port in HostPort.Of(task))
        {
            var count = (_hostPorts.TryGetValue(port, out var n) ? n : 0) + sign;
            if (count == 0)
            {
                _hostPorts.Remove(port);
            }
            else
            {
                _hostPorts[port] = count;
            }
        }
    }
}

/// <summary>A host-mode published port: bound on the node that runs the task, so two tasks cannot share it there.</summary>
internal readonly record struct HostPort(PortProtocol Protocol, uint Port)
{
    /// <summary>The host-mode published ports of <paramref name="task"/> (allocated by the allocator into its endpoint).</summary>
    public static IEnumerable<HostPort> Of(SwarmTask task)
    {
        if (task.Endpoint is null)
        {
            yield break;
        }

        foreach (var port in task.Endpoint.Ports)
        {
            if (port.PublishMode == PublishMode.Host && port.PublishedPort != 0)
            {
                yield return new HostPort(port.Protocol, port.PublishedPort);
            }
        }
    }
}
