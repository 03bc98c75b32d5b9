namespace Shoal.DockerApi;

/// <summary>
/// A Docker API error: the HTTP status code the client branches on and the message it prints after
/// "Error response from daemon: ". The canonical messages Docker users know are constants here.
/// </summary>
public sealed class DockerApiException : Exception
{
    /// <summary>503 on every swarm-manager endpoint of a node that is not a manager.</summary>
    public const string NotAManagerMessage =
        "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";

    /// <summary>503 from <c>swarm init</c> and <c>swarm join</c> on a node already in a swarm.</summary>
    public const string AlreadyInSwarmMessage =
        "This node is already part of a swarm. Use \"docker swarm leave\" to leave this swarm and join another one.";

    /// <summary>503 from <c>swarm leave</c> on a node outside any swarm.</summary>
    public const string NotInSwarmMessage = "This node is not part of a swarm";

    /// <summary>503 while the swarm is locked.</summary>
    public const string LockedMessage =
        "Swarm is encrypted and needs to be unlocked before it can be used. Please use \"docker swarm unlock\" to unlock it.";

    /// <summary>503 from <c>swarm leave</c> without force on a manager.</summary>
    public const string LeaveManagerMessage =
        "You are attempting to leave the swarm on a node that is participating as a manager. "
        + "Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message.";

    /// <summary>Creates the error.</summary>
    public DockerApiException(int statusCode, string message)
        : base(message)
    {
        StatusCode = statusCode;
    }

    /// <summary>Creates a 500 error.</summary>
    public DockerApiException()
        : this(500, "internal error")
    {
    }

    /// <summary>Creates a 500 error.</summary>
    public DockerApiException(string message)
        : this(500, message)
    {
    }

    /// <summary>Creates a 500 error with its cause.</summary>
    public DockerApiException(string message, Exception innerException)
        : base(message, innerException)
    {
        StatusCode = 500;
    }

    /// <summary>The HTTP status code of the answer.</summary>
    public int StatusCode { get; }

    /// <summary>400: a bad parameter or body.</summary>
    public static DockerApiException BadRequest(string message) => new(400, message);
}
