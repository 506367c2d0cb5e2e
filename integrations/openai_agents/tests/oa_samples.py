"""SDK items of every kind the issue names, shaped as the SDK and the Responses API write them."""

from __future__ import annotations

from typing import Any

SAMPLES: dict[str, dict[str, Any]] = {
    "easy_user": {"role": "user", "content": "Where is my order 8812?"},
    "developer": {"role": "developer", "content": "Answer in one sentence."},
    "system": {
        "type": "message",
        "role": "system",
        "content": [{"type": "input_text", "text": "Be kind."}],
    },
    "user_parts": {
        "type": "message",
        "role": "user",
        "content": [
            {"type": "input_text", "text": "What is in this picture"},
            {
                "type": "input_image",
                "detail": "auto",
                "image_url": "data:image/png;base64,iVBORw0K",
            },
            {"type": "input_file", "file_id": "file-abc", "filename": "invoice.pdf"},
            {"type": "input_text", "text": "and this invoice?"},
        ],
    },
    "assistant_output": {
        "id": "msg_123",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [
            {
                "type": "output_text",
                "text": "It ships Tuesday, see the tracker.",
                "annotations": [
                    {
                        "type": "url_citation",
                        "start_index": 0,
                        "end_index": 8,
                        "url": "https://example.com/track",
                        "title": "Tracker",
                    }
                ],
                "logprobs": [],
            }
        ],
    },
    "refusal": {
        "id": "msg_124",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "refusal", "refusal": "I cannot share other customers' orders."}],
    },
    "function_call": {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_1",
        "name": "order_status",
        "arguments": '{"order_id": "8812", "verbose": true}',
        "status": "completed",
    },
    "function_call_bad_json": {
        "type": "function_call",
        "call_id": "call_2",
        "name": "order_status",
        "arguments": '{"order_id": "88',
    },
    "function_call_output": {
        "type": "function_call_output",
        "call_id": "call_1",
        "output": '{"status": "shipped", "eta": "Tuesday"}',
    },
    "function_call_output_list": {
        "type": "function_call_output",
        "call_id": "call_3",
        "output": [
            {"type": "input_text", "text": "label printed"},
            {"type": "input_image", "image_url": "https://example.com/label.png", "detail": "low"},
        ],
    },
    "reasoning": {
        "id": "rs_1",
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "The user wants the shipping date."}],
        "encrypted_content": "gAAAAABo-opaque-blob==",
    },
    "file_search_call": {
        "id": "fs_1",
        "type": "file_search_call",
        "status": "completed",
        "queries": ["refund policy"],
        "results": [
            {"file_id": "file-1", "filename": "policy.md", "score": 0.93, "text": "30 days"}
        ],
    },
    "web_search_call": {
        "id": "ws_1",
        "type": "web_search_call",
        "status": "completed",
        "action": {"type": "search", "query": "carrier strike news"},
    },
    "computer_call": {
        "id": "cu_1",
        "call_id": "call_cu_1",
        "type": "computer_call",
        "status": "completed",
        "pending_safety_checks": [],
        "action": {"type": "click", "button": "left", "x": 120, "y": 48},
    },
    "computer_call_output": {
        "type": "computer_call_output",
        "call_id": "call_cu_1",
        "output": {"type": "computer_screenshot", "image_url": "data:image/png;base64,AAAA"},
    },
    "code_interpreter_call": {
        "id": "ci_1",
        "type": "code_interpreter_call",
        "status": "completed",
        "container_id": "cntr_1",
        "code": "print(2 ** 10)",
        "outputs": [{"type": "logs", "logs": "1024"}],
    },
    "mcp_call": {
        "id": "mcp_1",
        "type": "mcp_call",
        "server_label": "crm",
        "name": "lookup_customer",
        "arguments": '{"email": "ada@example.com"}',
        "output": "Ada Lovelace, gold tier",
    },
    "mcp_approval_request": {
        "id": "mcpr_1",
        "type": "mcp_approval_request",
        "server_label": "crm",
        "name": "delete_customer",
        "arguments": '{"id": 7}',
    },
    "mcp_approval_response": {
        "type": "mcp_approval_response",
        "approval_request_id": "mcpr_1",
        "approve": False,
        "reason": "not without a ticket",
    },
    "image_generation_call": {
        "id": "ig_1",
        "type": "image_generation_call",
        "status": "completed",
        "result": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
    },
    "shell_call": {
        "type": "shell_call",
        "call_id": "call_sh_1",
        "action": {"commands": ["ls -la"], "timeout_ms": 1000},
    },
    "shell_call_output": {
        "type": "shell_call_output",
        "call_id": "call_sh_1",
        "output": [
            {"stdout": "total 0", "stderr": "", "outcome": {"type": "exit", "exit_code": 0}}
        ],
    },
    "custom_tool_call": {
        "type": "custom_tool_call",
        "call_id": "call_ct_1",
        "name": "sql",
        "input": "SELECT 1",
    },
    "custom_tool_call_output": {
        "type": "custom_tool_call_output",
        "call_id": "call_ct_1",
        "output": "1 row",
    },
    "compaction": {"type": "compaction", "id": "cmp_1", "encrypted_content": "gAAAAABcompacted=="},
    "item_reference": {"id": "msg_999"},
}
