using System.Collections.Concurrent;
using System.Text.Json;
using Shoal.Agent.Executors;
using Shoal.DockerApi.Model;
using Shoal.TestKit;

namespace Shoal.Node.Tests;

/// <summary>
/// One <see cref="FakeExecutor"/> per node data directory: the fake "host" of each node, which keeps its processes
/// when the node stops (as a host keeps a crashed agent's task processes).
/// </summary>
internal sealed class FakeHosts
{
    private readonly ConcurrentDictionary<string, FakeExecutor> _hosts = new(StringComparer.Ordinal);

    /// <summary>The <see cref="Shoal.Node.NodeOptions.Executor"/> factory: the host of a data directory.</summary>
    public IExecutor ExecutorFor(string dataDirectory) => _hosts.GetOrAdd(dataDirectory, _ => new FakeExecutor());

    /// <summary>The host of <paramref name="node"/>.</summary>
    public FakeExecutor this[TestNode node] => _hosts.GetOrAdd(node.DataDirectory, _ => new FakeExecutor());

    /// <summary>The fake process of <paramref name="taskId"/>, on whichever host runs it.</summary>
    public FakeExecutor.FakeProcess Process(string taskId) =>
        _hosts.Values.FirstOrDefault(h => h.Knows(taskId))?[taskId]
        ?? throw new InvalidOperationException($"no fake host knows task {taskId}: its node never created a controller for it");
}

/// <summary>Services and tasks through a manager's Docker API (docker-api-subset §2.4, §2.5), and waits on them.</summary>
internal static class ServiceApi
{
    /// <summary>Between two polls of a wait: the API is real, so each poll costs a request.</summary>
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>How long a wait lasts before it fails with what it last saw.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    /// <summary>A replicated service of fake tasks restarted after <paramref name="restartDelay"/> (200 ms by default).</summary>
    public static ServiceSpec Replicated(string name, ulong replicas, string restartCondition = RestartConditions.Any, TimeSpan? restartDelay = null, params string[] constraints) =>
        Spec(name, new ServiceMode { Replicated = new ReplicatedService { Replicas = replicas } }, restartCondition, restartDelay, constraints);

    /// <summary>A global service of fake tasks.</summary>
    public static ServiceSpec Global(string name, params string[] constraints) =>
        Spec(name, new ServiceMode { Global = new GlobalService() }, RestartConditions.Any, null, constraints);

    private static ServiceSpec Spec(string name, ServiceMode mode, string restartCondition, TimeSpan? restartDelay, string[] constraints) => new()
    {
        Name = name,
        Mode = mode,
        TaskTemplate = new TaskSpec
        {
            ContainerSpec = new ContainerSpec { Image = "fake", Command = ["/bin/sleep", "3600"] },
            RestartPolicy = new RestartPolicy
            {
                Condition = restartCondition,
                Delay = (long)(restartDelay ?? TimeSpan.FromMilliseconds(200)).TotalMilliseconds * 1_000_000,
            },
            Placement = constraints.Length == 0 ? null : new Placement { Constraints = [.. constraints] },
        },
    };

    /// <summary>Creates the service; returns its ID.</summary>
    public static async Task<string> CreateServiceAsync(this TestNode manager, ServiceSpec spec)
    {
        var body = await manager.OkAsync(HttpMethod.Post, "/v1.50/services/create", JsonSerializer.Serialize(spec, DockerJsonContext.Default.ServiceSpec));
        return JsonSerializer.Deserialize(body, DockerJsonContext.Default.ServiceCreateResponse)!.ID;
    }

    public static async Task<Service> ServiceAsync(this TestNode manager, string serviceId) =>
        JsonSerializer.Deserialize(await manager.OkAsync(HttpMethod.Get, $"/v1.50/services/{serviceId}"), DockerJsonContext.Default.Service)!;

    /// <summary><c>GET /services?status=true</c>: the services with their task counts.</summary>
    public static async Task<List<Service>> ServicesWithStatusAsync(this TestNode manager) =>
        JsonSerializer.Deserialize(await manager.OkAsync(HttpMethod.Get, "/v1.50/services?status=true"), DockerJsonContext.Default.ListService)!;

    /// <summary>Every task of the service (all of <c>GET /tasks</c>, so it also works once the service is gone).</summary>
    public static async Task<List<SwarmTask>> TasksAsync(this TestNode manager, string serviceId)
    {
        var all = JsonSerializer.Deserialize(await manager.OkAsync(HttpMethod.Get, "/v1.50/tasks"), DockerJsonContext.Default.ListSwarmTask)!;
        return [.. all.Where(t => t.ServiceID == serviceId)];
    }

    /// <summary>Reads the service, changes its spec with <paramref name="change"/> and sends it back with the version read.</summary>
    public static async Task UpdateServiceAsync(this TestNode manager, string serviceId, Action<ServiceSpec> change)
    {
        var service = await manager.ServiceAsync(serviceId);
        change(service.Spec);
        await manager.OkAsync(HttpMethod.Post, $"/v1.50/services/{serviceId}/update?version={service.Version.Index}", JsonSerializer.Serialize(service.Spec, DockerJsonContext.Default.ServiceSpec));
    }

    public static Task ScaleAsync(this TestNode manager, string serviceId, ulong replicas) =>
        manager.UpdateServiceAsync(serviceId, spec => spec.Mode.Replicated!.Replicas = replicas);

    public static Task RemoveServiceAsync(this TestNode manager, string serviceId) =>
        manager.OkAsync(HttpMethod.Delete, $"/v1.50/services/{serviceId}");

    /// <summary>Sets a node's availability (<see cref="NodeAvailabilities"/>), keeping the rest of its spec.</summary>
    public static async Task SetAvailabilityAsync(this TestNode manager, string nodeId, string availability)
    {
        var node = JsonSerializer.Deserialize(await manager.OkAsync(HttpMethod.Get, $"/v1.50/nodes/{nodeId}"), DockerJsonContext.Default.Node)!;
        node.Spec.Availability = availability;
        await manager.OkAsync(HttpMethod.Post, $"/v1.50/nodes/{nodeId}/update?version={node.Version.Index}", JsonSerializer.Serialize(node.Spec, DockerJsonContext.Default.NodeSpec));
    }

    /// <summary>The tasks meant to run and running.</summary>
    public static List<SwarmTask> Running(this IEnumerable<SwarmTask> tasks) =>
        [.. tasks.Where(t => t.DesiredState == TaskStates.Running && t.Status.State == TaskStates.Running)];

    /// <summary>Waits until the service's tasks, as <paramref name="through"/> lists them, satisfy <paramref name="condition"/>;
    /// returns them. On timeout the message has what was expected and the tasks last seen.</summary>
    public static Task<List<SwarmTask>> WaitTasksAsync(this TestNode through, string serviceId, Func<List<SwarmTask>, bool> condition, string expectation, TimeSpan? timeout = null) =>
        PollAsync(through, () => through.TasksAsync(serviceId), condition, Describe, expectation, timeout);

    /// <summary>Waits until <c>GET /services?status=true</c> counts <paramref name="running"/> of <paramref name="desired"/> tasks.</summary>
    public static Task<List<Service>> WaitServiceStatusAsync(this TestNode through, string serviceId, ulong running, ulong desired) =>
        PollAsync(
            through,
            through.ServicesWithStatusAsync,
            services => services.SingleOrDefault(s => s.ID == serviceId)?.ServiceStatus is { } status && status.RunningTasks == running && status.DesiredTasks == desired,
            services => string.Join(", ", services.Select(s => $"{s.Spec.Name} {s.ServiceStatus?.RunningTasks}/{s.ServiceStatus?.DesiredTasks}")),
            $"GET /services?status=true showing {running}/{desired}",
            timeout: null);

    /// <summary>Reads through the API until <paramref name="condition"/> holds (a manager between leaders answers with
    /// an error: it is read again); on timeout the message has what was expected and what was last read.</summary>
    private static async Task<T> PollAsync<T>(TestNode through, Func<Task<T>> read, Func<T, bool> condition, Func<T, string> describe, string expectation, TimeSpan? timeout)
        where T : class
    {
        T? last = null;
        var deadline = DateTime.UtcNow + (timeout ?? Deadline);
        while (true)
        {
            try
            {
                last = await read();
                if (condition(last))
                {
                    return last;
                }
            }
            catch (Exception e) when (e is HttpRequestException or IOException or InvalidOperationException or TaskCanceledException)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out after {(timeout ?? Deadline).TotalSeconds:0.#} s waiting for: {expectation}; last read through {through.Name}: {(last is null ? "nothing (every request failed)" : describe(last))}");
            }

            await Task.Delay(PollInterval, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>Waits for a condition that needs no API call (fake processes); the message says what was expected.</summary>
    public static Task WaitAsync(Func<bool> condition, string expectation) =>
        Eventually.TrueAsync(condition, expectation, Deadline, TestContext.Current.CancellationToken);

    public static string Describe(IEnumerable<SwarmTask> tasks) =>
        "[" + string.Join(", ", tasks.OrderBy(t => t.Slot).ThenBy(t => t.CreatedAt).Select(t =>
            $"slot {t.Slot} {t.ID[..Math.Min(6, t.ID.Length)]} on {(t.NodeID is { Length: > 6 } n ? n[..6] : t.NodeID ?? "-")} {t.Status.State}/{t.DesiredState}{(string.IsNullOrEmpty(t.Status.Err) ? string.Empty : $" ({t.Status.Err})")}")) + "]";
}
