using Shoal.Api;
using Shoal.Manager.Orchestrator;
using Shoal.Store;

namespace Shoal.Manager.ControlApi;

/// <summary>
/// The filters of <c>ListTasks</c> over one store view. Service and node references are resolved to IDs once (an
/// unknown reference matches nothing), and the candidates come from the task indexes (by service, by node, by desired
/// state) when one of those filters is present, so `docker service ps` on a large swarm reads only that service's tasks.
/// Each list is an OR of its entries (labels excepted: every entry must match), the lists are ANDed.
/// </summary>
internal sealed class TaskFilter
{
    private readonly ReadTransaction _view;
    private readonly ListTasksRequest.Types.Filters _filters;
    private readonly HashSet<string>? _serviceIds;
    private readonly HashSet<string>? _nodeIds;

    private TaskFilter(ReadTransaction view, ListTasksRequest.Types.Filters filters, HashSet<string>? serviceIds, HashSet<string>? nodeIds)
    {
        _view = view;
        _filters = filters;
        _serviceIds = serviceIds;
        _nodeIds = nodeIds;
    }

    /// <summary>
    /// Resolves the references of <paramref name="filters"/> against <paramref name="view"/>. A reference that fits
    /// several objects is an error (set in <paramref name="error"/>): guessing would list the wrong tasks.
    /// </summary>
    public static TaskFilter Create(ReadTransaction view, ListTasksRequest.Types.Filters? filters, out string? error)
    {
        filters ??= new ListTasksRequest.Types.Filters();
        error = null;
        HashSet<string>? serviceIds = null;
        if (filters.ServiceRefs.Count > 0)
        {
            serviceIds = new HashSet<string>(StringComparer.Ordinal);
            foreach (var reference in filters.ServiceRefs)
            {
                if (ResolveService(view, reference, ref error) is { } id)
                {
                    serviceIds.Add(id);
                }
            }
        }

        HashSet<string>? nodeIds = null;
        if (filters.NodeRefs.Count > 0)
        {
            nodeIds = new HashSet<string>(StringComparer.Ordinal);
            foreach (var reference in filters.NodeRefs)
            {
                if (ResolveNode(view, reference, ref error) is { } id)
                {
                    nodeIds.Add(id);
                }
            }
        }

        return new TaskFilter(view, filters, serviceIds, nodeIds);
    }

    /// <summary>The matching tasks, in ID order.</summary>
    public List<SwarmTask> Run()
    {
        var tasks = _view.Tasks;
        var result = new List<SwarmTask>();
        if (_serviceIds is not null)
        {
            foreach (var id in _serviceIds)
            {
                AddMatches(tasks.ByService(id), result);
            }
        }
        else if (_nodeIds is not null)
        {
            foreach (var id in _nodeIds)
            {
                AddMatches(tasks.ByNode(id), result);
            }
        }
        else if (_filters.DesiredStates.Count > 0)
        {
            foreach (var state in _filters.DesiredStates.Distinct())
            {
                AddMatches(tasks.ByDesiredState(state), result);
            }
        }
        else
        {
            AddMatches(tasks.All(), result);
            return result;
        }

        result.Sort(static (a, b) => string.CompareOrdinal(a.Id, b.Id));
        return result;
    }

    /// <summary>
    /// The task's name as Docker shows it and SwarmKit's <c>naming.Task</c> builds it:
    /// "&lt;service&gt;.&lt;slot&gt;.&lt;task id&gt;", with the node ID in place of the slot for global tasks.
    /// </summary>
    public static string TaskName(SwarmTask task, Service? service)
    {
        if (task.Annotations?.Name is { Length: > 0 } name)
        {
            return name;
        }

        var serviceName = task.ServiceAnnotations?.Name is { Length: > 0 } own ? own : service?.Spec?.Annotations?.Name ?? string.Empty;
        return task.Slot != 0 ? $"{serviceName}.{task.Slot}.{task.Id}" : $"{serviceName}.{task.NodeId}.{task.Id}";
    }

    /// <summary>What <c>runtime</c> filters compare: the kind of the task's runtime ("container", "attachment", "plugin").</summary>
    public static string RuntimeOf(TaskSpec? spec) => spec?.RuntimeCase switch
    {
        TaskSpec.RuntimeOneofCase.Container => "container",
        TaskSpec.RuntimeOneofCase.Attachment => "attachment",
        TaskSpec.RuntimeOneofCase.Plugin => "plugin",
        _ => spec?.RuntimeName ?? string.Empty,
    };

    private void AddMatches(ObjectSet<SwarmTask> candidates, List<SwarmTask> result)
    {
        foreach (var task in candidates)
        {
            if (Matches(task))
            {
                result.Add(task);
            }
        }
    }

    private bool Matches(SwarmTask task)
    {
        if ((_serviceIds is not null && !_serviceIds.Contains(task.ServiceId))
            || (_nodeIds is not null && !_nodeIds.Contains(task.NodeId))
            || (_filters.DesiredStates.Count > 0 && !_filters.DesiredStates.Contains(task.DesiredState))
            || !FilterMatch.AnyPrefix(_filters.IdPrefixes, task.Id)
            || (_filters.Runtimes.Count > 0 && !_filters.Runtimes.Contains(RuntimeOf(task.Spec))))
        {
            return false;
        }

        var service = _view.Services.Get(task.ServiceId);
        if (_filters.NamePrefixes.Count > 0 && !FilterMatch.AnyPrefix(_filters.NamePrefixes, TaskName(task, service)))
        {
            return false;
        }

        // The service's current labels; a task whose service is gone keeps the copy it was created with (stack ps
        // still lists the tasks of a stack being removed).
        var labels = service?.Spec?.Annotations?.Labels ?? task.ServiceAnnotations?.Labels;
        if (!FilterMatch.AllLabels(_filters.Labels, labels))
        {
            return false;
        }

        if (_filters.UpToDate)
        {
            if (service is null)
            {
                return false;
            }

            var node = task.NodeId.Length > 0 ? _view.Nodes.Get(task.NodeId) : null;
            return TaskRules.IsUpToDate(service, task, node);
        }

        return true;
    }

    private static string? ResolveService(ReadTransaction view, string reference, ref string? error)
    {
        if (reference.Length == 0)
        {
            return null;
        }

        var service = ControlApiServer.FindService(view, reference, out var matches);
        if (matches > 1)
        {
            error ??= $"service filter: {ControlApiServer.AmbiguousMessage("service", reference, matches)}; give more of the ID";
        }

        return service?.Id;
    }

    private static string? ResolveNode(ReadTransaction view, string reference, ref string? error)
    {
        if (reference.Length == 0)
        {
            return null;
        }

        try
        {
            return ControlApiServer.ResolveNode(view, reference).Id;
        }
        catch (Grpc.Core.RpcException e) when (e.StatusCode == Grpc.Core.StatusCode.InvalidArgument)
        {
            error ??= $"node filter: {e.Status.Detail}; give the node ID";
            return null;
        }
        catch (Grpc.Core.RpcException e) when (e.StatusCode == Grpc.Core.StatusCode.NotFound)
        {
            return null;
        }
    }
}
