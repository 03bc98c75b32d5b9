using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Shoal.DockerApi.Model;
using Proto = Shoal.Api;

namespace Shoal.DockerApi;

// /tasks (docker-api-subset §2.5): read-only views of the control API's tasks.
internal sealed partial class DockerEndpoints
{
    private static readonly string[] TaskFilterKeys = ["id", "name", "service", "node", "desired-state", "label", "_up-to-date", "runtime"];

    private void MapTasks(IEndpointRouteBuilder app)
    {
        Route(app, "/tasks", TaskListAsync, "GET");
        Route(app, "/tasks/{id}", TaskInspectAsync, "GET");
    }

    private async Task TaskListAsync(HttpContext context)
    {
        var control = RequireManager();
        var filters = DockerFilters.Parse(context.Request.Query["filters"]).Validate(TaskFilterKeys);
        var protoFilters = new Proto.ListTasksRequest.Types.Filters
        {
            // moby: any value of the hidden filter turns it on (the CLI sends {"true":true}).
            UpToDate = filters.Contains("_up-to-date"),
        };
        protoFilters.IdPrefixes.AddRange(filters.Get("id"));
        protoFilters.NamePrefixes.AddRange(filters.Get("name"));
        protoFilters.ServiceRefs.AddRange(filters.Get("service"));
        protoFilters.NodeRefs.AddRange(filters.Get("node"));
        protoFilters.Labels.AddRange(filters.Get("label"));
        protoFilters.Runtimes.AddRange(filters.Get("runtime"));
        foreach (var state in filters.Get("desired-state"))
        {
            protoFilters.DesiredStates.Add(TaskMapping.ParseState(state)
                ?? throw DockerApiException.BadRequest($"invalid desired-state filter: '{state}' (use \"running\", \"shutdown\" or \"accepted\")"));
        }

        var tasks = (await control.ListTasksAsync(new Proto.ListTasksRequest { Filters = protoFilters }, cancellationToken: context.RequestAborted)).Tasks;
        await WriteAsync(context, [.. tasks.Select(TaskMapping.ToDocker)], DockerJsonContext.Default.ListSwarmTask);
    }

    private async Task TaskInspectAsync(HttpContext context)
    {
        var control = RequireManager();
        var task = await FindTaskAsync(control, context);
        await WriteAsync(context, TaskMapping.ToDocker(task), DockerJsonContext.Default.SwarmTask);
    }

    /// <summary>The task <c>{id}</c> names (ID or unique prefix); lookup errors read as moby's own.</summary>
    private static async Task<Proto.SwarmTask> FindTaskAsync(Proto.Control.ControlClient control, HttpContext context)
    {
        var reference = (string)context.Request.RouteValues["id"]!;
        try
        {
            return (await control.GetTaskAsync(new Proto.GetTaskRequest { TaskId = reference }, cancellationToken: context.RequestAborted)).Task;
        }
        catch (Grpc.Core.RpcException e) when (e.StatusCode is Grpc.Core.StatusCode.NotFound or Grpc.Core.StatusCode.InvalidArgument)
        {
            throw DockerErrors.FromRpc(e, detailOnly: true);
        }
    }
}
