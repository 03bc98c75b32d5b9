using Grpc.Core;
using Shoal.Api;
using Shoal.Store;

namespace Shoal.Manager.ControlApi;

// Tasks are read-only to users: the orchestrators create them and the agents report their states.
public sealed partial class ControlApiServer
{
    /// <inheritdoc/>
    public override Task<GetTaskResponse> GetTask(GetTaskRequest request, ServerCallContext context) =>
        GuardAsync(() =>
        {
            if (string.IsNullOrEmpty(request.TaskId))
            {
                throw Invalid("a task ID or ID prefix must be provided");
            }

            return Task.FromResult(new GetTaskResponse { Task = ResolveTask(_store.View(), request.TaskId) });
        });

    /// <inheritdoc/>
    public override Task<ListTasksResponse> ListTasks(ListTasksRequest request, ServerCallContext context) =>
        GuardAsync(() =>
        {
            var filter = TaskFilter.Create(_store.View(), request.Filters, out var error);
            if (error is not null)
            {
                throw Invalid(error);
            }

            var response = new ListTasksResponse();
            response.Tasks.AddRange(filter.Run());
            return Task.FromResult(response);
        });

    /// <summary>
    /// Finds a task by full ID, else by its full name ("web.1.&lt;id&gt;", as `docker inspect` may pass it), else by a
    /// unique ID prefix (NotFound when nothing matches, InvalidArgument when several do).
    /// </summary>
    internal static SwarmTask ResolveTask(ReadTransaction view, string reference)
    {
        var tasks = view.Tasks;
        if (tasks.Get(reference) is { } exact)
        {
            return exact;
        }

        var named = tasks.ByName(reference);
        if (named.Count == 1)
        {
            return named.First();
        }

        var prefixed = tasks.ByIdPrefix(reference);
        return prefixed.Count switch
        {
            1 => prefixed.First(),
            0 => throw new RpcException(new Status(StatusCode.NotFound, $"task {reference} not found")),
            _ => throw Invalid(AmbiguousMessage("task", reference, prefixed.Count)),
        };
    }
}
