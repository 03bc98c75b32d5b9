using Grpc.Core;

namespace Shoal.DockerApi;

/// <summary>How control API errors become Docker API errors (the same table as moby's).</summary>
public static class DockerErrors
{
    /// <summary>The HTTP status for a gRPC status code: NotFound 404, AlreadyExists 409, InvalidArgument and
    /// FailedPrecondition 400, Unimplemented 501, Unavailable 503, PermissionDenied 403, anything else 500.</summary>
    public static int HttpStatusOf(StatusCode code) => code switch
    {
        StatusCode.NotFound => 404,
        StatusCode.AlreadyExists => 409,
        StatusCode.InvalidArgument or StatusCode.FailedPrecondition => 400,
        StatusCode.Unimplemented => 501,
        StatusCode.Unavailable => 503,
        StatusCode.PermissionDenied => 403,
        _ => 500,
    };

    /// <summary>
    /// The Docker error for a failed control call. moby prints errors that come back from SwarmKit in gRPC's text form,
    /// <c>rpc error: code = Unknown desc = update out of sequence</c>; with <paramref name="detailOnly"/> the message is
    /// the detail alone (moby's own lookups by name, such as "node x not found").
    /// </summary>
    public static DockerApiException FromRpc(RpcException exception, bool detailOnly = false)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var detail = exception.Status.Detail;
        var message = detailOnly ? detail : $"rpc error: code = {GoName(exception.StatusCode)} desc = {detail}";
        return new DockerApiException(HttpStatusOf(exception.StatusCode), message);
    }

    // Go spells one code differently from .NET.
    private static string GoName(StatusCode code) => code == StatusCode.Cancelled ? "Canceled" : code.ToString();
}
