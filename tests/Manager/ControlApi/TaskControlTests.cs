using Grpc.Core;
using Shoal.Api;
using Shoal.TestKit;

namespace Shoal.Manager.Tests.ControlApi;

/// <summary>Reading tasks through the control API over the real cluster port (mutual TLS on loopback).</summary>
public sealed class TaskControlTests : IAsyncLifetime
{
    private ControlPlane _plane = null!;

    private CancellationToken Ct => TestContext.Current.CancellationToken;

    private Control.ControlClient Client => _plane.Client;

    public async ValueTask InitializeAsync() => _plane = await ControlPlane.StartAsync();

    public async ValueTask DisposeAsync() => await _plane.DisposeAsync();

    [Fact]
    public async Task GetTask_FindsByIdFullNameAndUniquePrefix()
    {
        var web = Objects.Service("web");
        var task = Objects.Task(web, 1, id: "bbbbbbbbbbbbbbbbbbbbbbbb1");
        var other = Objects.Task(web, 2, id: "cccccccccccccccccccccccc1");
        await _plane.Store.CreateAsync(web, task, other);
        task = _plane.Store.View().Tasks.Get(task.Id)!;

        Assert.Equal(task, await GetAsync(task.Id));
        Assert.Equal(task, await GetAsync($"web.1.{task.Id}"));
        Assert.Equal(task, await GetAsync("bbb"));
    }

    [Fact]
    public async Task GetTask_UnknownEmptyOrAmbiguousReference_IsRefusedClearly()
    {
        var web = Objects.Service("web");
        await _plane.Store.CreateAsync(web, Objects.Task(web, 1, id: "aaaaaaaaaaaaaaaaaaaaaaaa1"), Objects.Task(web, 2, id: "aaaaaaaaaaaaaaaaaaaaaaaa2"));

        var unknown = await Refused(() => GetAsync("nosuch"));
        var empty = await Refused(() => GetAsync(string.Empty));
        var ambiguous = await Refused(() => GetAsync("aaaa"));

        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("task nosuch not found", unknown.Status.Detail);
        Assert.Equal(StatusCode.InvalidArgument, empty.StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, ambiguous.StatusCode);
        Assert.Equal("task aaaa is ambiguous (2 matches found)", ambiguous.Status.Detail);
    }

    [Fact]
    public async Task ListTasks_ServiceAndNodeRefs_ResolveIdsNamesAndPrefixes_UnknownMatchesNothing()
    {
        var a = await _plane.AddNodeAsync("host-a", name: "alpha");
        var b = await _plane.AddNodeAsync("host-b");
        var web = Objects.Service("web");
        var db = Objects.Service("db");
        var web1 = Objects.Task(web, 1, a.Id, TaskState.Running);
        var web2 = Objects.Task(web, 2, b.Id, TaskState.Running);
        var db1 = Objects.Task(db, 1, a.Id, TaskState.Running);
        await _plane.Store.CreateAsync(web, db, web1, web2, db1);

        Assert.Equal(Ids(web1, web2), await ListAsync(f => f.ServiceRefs.Add("web")));
        Assert.Equal(Ids(web1, web2), await ListAsync(f => f.ServiceRefs.Add("WEB")));
        Assert.Equal(Ids(web1, web2, db1), await ListAsync(f => f.ServiceRefs.AddRange([web.Id, db.Id[..8]])));
        Assert.Equal(Ids(web1, db1), await ListAsync(f => f.NodeRefs.Add("alpha")));
        Assert.Equal(Ids(web2), await ListAsync(f => f.NodeRefs.Add("host-b")));
        Assert.Equal(Ids(web1), await ListAsync(f =>
        {
            f.NodeRefs.Add(a.Id);
            f.ServiceRefs.Add("web");
        }));
        Assert.Empty(await ListAsync(f => f.ServiceRefs.Add("nosuch")));
        Assert.Empty(await ListAsync(f => f.ServiceRefs.Add(string.Empty)));
        Assert.Empty(await ListAsync(f => f.NodeRefs.Add("nosuch")));
        Assert.Equal(3, (await ListAsync(_ => { })).Length);
    }

    [Fact]
    public async Task ListTasks_AmbiguousServicePrefix_IsInvalidArgument()
    {
        await _plane.Store.CreateAsync(Objects.Service("one", id: "aaaaaaaaaaaaaaaaaaaaaaaa1"), Objects.Service("two", id: "aaaaaaaaaaaaaaaaaaaaaaaa2"));

        var e = await Refused(() => ListAsync(f => f.ServiceRefs.Add("aaaa")));

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("service aaaa is ambiguous (2 matches found)", e.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListTasks_NameIdDesiredStateAndRuntimeFilters()
    {
        var node = await _plane.AddNodeAsync("host-a");
        var web = Objects.Service("web");
        var mon = Objects.Service("monitor");
        mon.Spec.Global = new GlobalService();
        var web1 = Objects.Task(web, 1, node.Id, TaskState.Running);
        var web2 = Objects.Task(web, 2, node.Id, TaskState.Shutdown, desired: TaskState.Shutdown);
        var monitor = Objects.Task(mon, 0, node.Id, TaskState.Running);
        monitor.Annotations = null;
        await _plane.Store.CreateAsync(web, mon, web1, web2, monitor);

        Assert.Equal(Ids(web1), await ListAsync(f => f.NamePrefixes.Add("web.1")));
        Assert.Equal(Ids(monitor), await ListAsync(f => f.NamePrefixes.Add($"monitor.{node.Id}")));
        Assert.Equal(Ids(web2), await ListAsync(f => f.IdPrefixes.Add(web2.Id)));
        Assert.Equal(Ids(web1, monitor), await ListAsync(f => f.DesiredStates.Add(TaskState.Running)));
        Assert.Equal(Ids(web2), await ListAsync(f =>
        {
            f.DesiredStates.Add(TaskState.Shutdown);
            f.ServiceRefs.Add("web");
        }));
        Assert.Equal(3, (await ListAsync(f => f.Runtimes.Add("container"))).Length);
        Assert.Empty(await ListAsync(f => f.Runtimes.Add("plugin")));
    }

    [Fact]
    public async Task ListTasks_Labels_MatchTheServiceLabels()
    {
        var web = Objects.Service("web");
        var other = Objects.Service("other");
        var task = Objects.Task(web, 1);
        var otherTask = Objects.Task(other, 1);
        web.Spec.Annotations.Labels["com.docker.stack.namespace"] = "shop";
        web.Spec.Annotations.Labels["tier"] = "front";
        await _plane.Store.CreateAsync(web, other, task, otherTask);
        Assert.Empty(task.ServiceAnnotations.Labels);

        Assert.Equal(Ids(task), await ListAsync(f => f.Labels.Add("com.docker.stack.namespace=shop")));
        Assert.Equal(Ids(task), await ListAsync(f => f.Labels.AddRange(["com.docker.stack.namespace", "tier=front"])));
        Assert.Empty(await ListAsync(f => f.Labels.AddRange(["com.docker.stack.namespace", "tier=back"])));
    }

    [Fact]
    public async Task ListTasks_UpToDate_LeavesOutTasksOfAnOldSpecOrOnANodeThatNoLongerFits()
    {
        var worker = await _plane.AddNodeAsync("worker-1");
        var web = Objects.Service("web", replicas: 3);
        web.Spec.Task.Placement = new Placement { Constraints = { "node.role==worker" } };
        var current = Objects.Task(web, 1, worker.Id, TaskState.Running);
        var onManager = Objects.Task(web, 2, _plane.ManagerId, TaskState.Running);
        var unassigned = Objects.Task(web, 3, state: TaskState.Pending);
        var old = Objects.Task(web, 3, worker.Id, TaskState.Running);
        old.Spec.Container.Image = "busybox:1.36";
        await _plane.Store.CreateAsync(web, current, onManager, unassigned, old);

        Assert.Equal(Ids(current, unassigned), await ListAsync(f =>
        {
            f.UpToDate = true;
            f.ServiceRefs.Add(web.Id);
        }));
        Assert.Equal(4, (await ListAsync(f => f.ServiceRefs.Add(web.Id))).Length);
    }

    private static string[] Ids(params SwarmTask[] tasks) => [.. tasks.Select(t => t.Id).Order(StringComparer.Ordinal)];

    private async Task<string[]> ListAsync(Action<ListTasksRequest.Types.Filters> set)
    {
        var filters = new ListTasksRequest.Types.Filters();
        set(filters);
        var response = await Client.ListTasksAsync(new() { Filters = filters }, cancellationToken: Ct);
        return [.. response.Tasks.Select(t => t.Id)];
    }

    private async Task<SwarmTask> GetAsync(string reference) =>
        (await Client.GetTaskAsync(new() { TaskId = reference }, cancellationToken: Ct)).Task;

    private static async Task<RpcException> Refused(Func<Task> call) => await Assert.ThrowsAsync<RpcException>(call);
}
